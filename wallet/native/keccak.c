/* Keccak-256 (Ethereum's hash: the original 0x01 padding, not SHA3's 0x06) in batches.
 *
 * Python hands over a whole batch in one call, so no per-message call overhead remains; the
 * messages of a batch share one length, so several of them run through Keccak-f[1600] side by
 * side, one per element of a vector lane (8 with AVX-512, 4 with AVX2, chosen at run time), and
 * one at a time otherwise. The permutation is written once over a lane type and instantiated
 * for each width.
 *
 * Entry points (each returns 0, or -1 for arguments it refuses):
 *   ts_keccak256_batch   digest of each of `count` messages of `len` bytes
 *   ts_keccak256_leaves  keccak256(keccak256(m)) of each message: OpenZeppelin's leaf hash
 *   ts_claim_leaves      the leaf hash of each claim (index, account, amount) from 3 columns
 *   ts_merkle_level      nodes lo..hi of a flat tree from their children, pairs in byte order
 *   ts_standard_tree     a whole StandardMerkleTree: sorted leaves, layout, every node
 *   ts_eip55             EIP-55 checksummed "0x" addresses of 20-byte addresses, one a line
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RATE 136    /* bytes absorbed per permutation by Keccak-256 */
#define DIGEST 32
#define MAX_WIDTH 8 /* messages per vector */

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_X86_VECTORS 1
#endif

static const uint64_t ROUND_CONSTANTS[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL,
    0x8000000080008000ULL, 0x000000000000808BULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008AULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800AULL, 0x800000008000000AULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets r[x + 5y] of the rho step. */
static const unsigned ROTATIONS[25] = {
    0,  1,  62, 28, 27,
    36, 44, 6,  55, 20,
    3,  10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2,  61, 56, 14,
};

#define ROL(x, n) ((n) ? (((x) << (n)) | ((x) >> (64 - (n)))) : (x))

/* One Keccak-f[1600] over 25 lanes of type LANE; RC(c) makes a LANE of round constant c. The
 * loops of a round have constant bounds and indices, so the compiler unrolls them and keeps the
 * lanes in registers; unrolling the 24 rounds too measured no faster. */
#define DEFINE_PERMUTATION(NAME, LANE, RC, ATTR)                                            \
    ATTR static void NAME(LANE a[25]) {                                                     \
        for (int round = 0; round < 24; round++) {                                          \
            LANE c[5], d[5], b[25];                                                         \
            _Pragma("GCC unroll 5") for (int x = 0; x < 5; x++)                             \
                c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];                 \
            _Pragma("GCC unroll 5") for (int x = 0; x < 5; x++)                             \
                d[x] = c[(x + 4) % 5] ^ ROL(c[(x + 1) % 5], 1);                             \
            /* theta, then rho and pi: lane (x, y) moves to (y, 2x + 3y) */                 \
            _Pragma("GCC unroll 5") for (int y = 0; y < 5; y++)                             \
                _Pragma("GCC unroll 5") for (int x = 0; x < 5; x++)                         \
                    b[y + 5 * ((2 * x + 3 * y) % 5)] =                                      \
                        ROL(a[x + 5 * y] ^ d[x], ROTATIONS[x + 5 * y]);                     \
            /* chi */                                                                       \
            _Pragma("GCC unroll 5") for (int y = 0; y < 5; y++)                             \
                _Pragma("GCC unroll 5") for (int x = 0; x < 5; x++)                         \
                    a[x + 5 * y] = b[x + 5 * y] ^                                           \
                        (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);                 \
            /* iota */                                                                      \
            a[0] ^= RC(ROUND_CONSTANTS[round]);                                             \
        }                                                                                   \
    }

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store64(uint8_t *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* The last block of a `len`-byte message `m`, padded: its tail after the whole blocks, then
 * 0x01 ... 0x80 (one byte 0x81 when a single byte of padding is left). */
static void last_block(const uint8_t *m, size_t len, uint8_t block[RATE]) {
    size_t tail = len % RATE;
    memcpy(block, m + (len - tail), tail);
    memset(block + tail, 0, RATE - tail);
    block[tail] ^= 0x01;
    block[RATE - 1] ^= 0x80;
}

/* Hashes WIDTH messages of `len` bytes side by side: msgs[j] into outs[j]. */
#define DEFINE_SPONGE(NAME, PERMUTE, LANE, WIDTH, ATTR)                                     \
    ATTR static void NAME(const uint8_t *const msgs[], size_t len, uint8_t *const outs[]) { \
        LANE a[25];                                                                         \
        uint64_t words[WIDTH];                                                              \
        uint8_t block[WIDTH][RATE];                                                         \
        memset(a, 0, sizeof a);                                                             \
        size_t whole = len / RATE;                                                          \
        for (size_t k = 0; k <= whole; k++) {                                               \
            for (int j = 0; j < WIDTH; j++) {                                               \
                if (k < whole)                                                              \
                    memcpy(block[j], msgs[j] + k * RATE, RATE);                             \
                else                                                                        \
                    last_block(msgs[j], len, block[j]);                                     \
            }                                                                               \
            for (int i = 0; i < RATE / 8; i++) {                                            \
                for (int j = 0; j < WIDTH; j++) words[j] = load64(block[j] + 8 * i);        \
                LANE lane;                                                                  \
                memcpy(&lane, words, sizeof lane);                                          \
                a[i] ^= lane;                                                               \
            }                                                                               \
            PERMUTE(a);                                                                     \
        }                                                                                   \
        for (int i = 0; i < DIGEST / 8; i++) {                                              \
            memcpy(words, &a[i], sizeof words);                                             \
            for (int j = 0; j < WIDTH; j++) store64(outs[j] + 8 * i, words[j]);             \
        }                                                                                   \
    }

#define SCALAR_RC(c) (c)
DEFINE_PERMUTATION(permute1, uint64_t, SCALAR_RC, )
DEFINE_SPONGE(sponge1, permute1, uint64_t, 1, )

#ifdef HAVE_X86_VECTORS
typedef uint64_t lane4 __attribute__((vector_size(32)));
typedef uint64_t lane8 __attribute__((vector_size(64)));
#define RC4(c) ((lane4){(c), (c), (c), (c)})
#define RC8(c) ((lane8){(c), (c), (c), (c), (c), (c), (c), (c)})
#define AVX2 __attribute__((target("avx2")))
#define AVX512 __attribute__((target("avx512f,avx512vl")))
DEFINE_PERMUTATION(permute4, lane4, RC4, AVX2)
DEFINE_SPONGE(sponge4, permute4, lane4, 4, AVX2)
DEFINE_PERMUTATION(permute8, lane8, RC8, AVX512)
DEFINE_SPONGE(sponge8, permute8, lane8, 8, AVX512)
#endif

typedef void (*sponge_fn)(const uint8_t *const msgs[], size_t len, uint8_t *const outs[]);

struct sponge {
    sponge_fn hash;
    size_t width;
};

static const struct sponge SCALAR = {sponge1, 1};
#ifdef HAVE_X86_VECTORS
static const struct sponge VECTOR4 = {sponge4, 4};
static const struct sponge VECTOR8 = {sponge8, 8};
#endif

/* The widest sponge this CPU runs. */
static const struct sponge *widest(void) {
#ifdef HAVE_X86_VECTORS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return &VECTOR8;
    if (__builtin_cpu_supports("avx2")) return &VECTOR4;
#endif
    return &SCALAR;
}

/* Read once per batch, as one pointer, so a batch never pairs one width with another's code. */
static const struct sponge *volatile chosen;

/* Selects the sponge of `width` messages (1, 4 or 8) when the CPU runs it, or the widest one
 * for 0; returns the width in use. Tests run every width this way, as all give the same bytes. */
int ts_keccak_width(int width) {
    const struct sponge *best = widest();
    if (width == 1) best = &SCALAR;
#ifdef HAVE_X86_VECTORS
    if (width == 4 && best->width >= 4) best = &VECTOR4;
#endif
    chosen = best;
    return (int)best->width;
}

/* Where message i of a group starts; `fill` supplies it, possibly writing into `scratch`. */
typedef const uint8_t *(*message_fn)(const void *ctx, size_t i, uint8_t *scratch);

/* Hashes messages 0..count-1 given by `fill`, `width` at a time; the last group repeats its
 * first message in the unused slots and drops their digests. */
static void run(message_fn fill, const void *ctx, size_t count, size_t len, uint8_t *out,
                size_t out_stride, int twice) {
    const struct sponge *sponge = chosen ? chosen : widest();
    size_t width = sponge->width;
    uint8_t scratch[MAX_WIDTH][3 * DIGEST]; /* the longest message made here */
    uint8_t spare[MAX_WIDTH][DIGEST];
    const uint8_t *msgs[MAX_WIDTH];
    uint8_t *outs[MAX_WIDTH];
    for (size_t start = 0; start < count; start += width) {
        size_t n = count - start < width ? count - start : width;
        for (size_t j = 0; j < width; j++) {
            size_t i = start + (j < n ? j : 0);
            msgs[j] = fill(ctx, i, scratch[j]);
            outs[j] = j < n ? out + i * out_stride : spare[j];
        }
        sponge->hash(msgs, len, outs);
        if (twice) {
            for (size_t j = 0; j < width; j++) msgs[j] = outs[j];
            sponge->hash(msgs, DIGEST, outs);
        }
    }
}

struct fixed {
    const uint8_t *data;
    size_t len;
};

static const uint8_t *fixed_message(const void *ctx, size_t i, uint8_t *scratch) {
    (void)scratch;
    const struct fixed *f = ctx;
    return f->data + i * f->len;
}

/* out[32*i..] = keccak256(data[len*i .. len*(i+1)]) for i < count. */
int ts_keccak256_batch(const uint8_t *data, size_t count, size_t len, uint8_t *out) {
    struct fixed f = {data, len};
    run(fixed_message, &f, count, len, out, DIGEST, 0);
    return 0;
}

/* out[32*i..] = keccak256(keccak256(data[len*i .. len*(i+1)])) for i < count. */
int ts_keccak256_leaves(const uint8_t *data, size_t count, size_t len, uint8_t *out) {
    struct fixed f = {data, len};
    run(fixed_message, &f, count, len, out, DIGEST, 1);
    return 0;
}

struct claims {
    const uint8_t *indexes, *accounts, *amounts;
    size_t width;
};

/* abi.encode(index, account, amount) of claim i: three 32-byte words, a 20-byte address
 * padded on the left. */
static const uint8_t *claim_row(const void *ctx, size_t i, uint8_t *scratch) {
    const struct claims *c = ctx;
    memcpy(scratch, c->indexes + DIGEST * i, DIGEST);
    memset(scratch + DIGEST, 0, DIGEST - c->width);
    memcpy(scratch + 2 * DIGEST - c->width, c->accounts + c->width * i, c->width);
    memcpy(scratch + 2 * DIGEST, c->amounts + DIGEST * i, DIGEST);
    return scratch;
}

/* out[32*i..] = OpenZeppelin's leaf hash of claim i, from its index and amount as 32-byte
 * big-endian words and its account of `width` bytes (20 for an address, 32 for bytes32). */
int ts_claim_leaves(const uint8_t *indexes, const uint8_t *accounts, size_t width,
                    const uint8_t *amounts, size_t count, uint8_t *out) {
    if (width != 20 && width != DIGEST) return -1;
    struct claims c = {indexes, accounts, amounts, width};
    run(claim_row, &c, count, 3 * DIGEST, out, DIGEST, 1);
    return 0;
}

struct level {
    const uint8_t *tree;
    size_t lo;
};

/* The children of node lo+i, smaller first (OpenZeppelin's standardNodeHash). */
static const uint8_t *sorted_children(const void *ctx, size_t i, uint8_t *scratch) {
    const struct level *l = ctx;
    const uint8_t *left = l->tree + DIGEST * (2 * (l->lo + i) + 1);
    const uint8_t *right = left + DIGEST;
    int swap = memcmp(left, right, DIGEST) > 0;
    memcpy(scratch, swap ? right : left, DIGEST);
    memcpy(scratch + DIGEST, swap ? left : right, DIGEST);
    return scratch;
}

/* Nodes lo..hi of a flat tree of 32-byte nodes (node i's children are 2i+1 and 2i+2, which the
 * caller has already filled) become the hashes of their sorted children. */
int ts_merkle_level(uint8_t *tree, size_t lo, size_t hi) {
    if (hi < lo) return 0;
    struct level l = {tree, lo};
    run(sorted_children, &l, hi - lo + 1, 2 * DIGEST, tree + DIGEST * lo, DIGEST, 0);
    return 0;
}

/* A leaf to sort: its first 8 bytes read big-endian, so that most comparisons are one integer
 * compare on memory read in order, and its position. */
struct sort_key {
    uint64_t head;
    uint64_t index;
};

static int key_less(const uint8_t *leaves, const struct sort_key *a, const struct sort_key *b) {
    if (a->head != b->head) return a->head < b->head;
    return memcmp(leaves + DIGEST * a->index, leaves + DIGEST * b->index, DIGEST) < 0;
}

/* Sorts keys[0..n) by leaf bytes, stably (equal leaves keep their order, as JavaScript's sort
 * does): a bottom-up merge sort through `spare`. Returns the buffer holding the result. */
static struct sort_key *sort_leaves(const uint8_t *leaves, size_t n, struct sort_key *keys,
                                    struct sort_key *spare) {
    for (size_t run = 1; run < n; run *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * run) {
            size_t mid = lo + run < n ? lo + run : n, hi = lo + 2 * run < n ? lo + 2 * run : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                spare[k++] = key_less(leaves, &keys[j], &keys[i]) ? keys[j++] : keys[i++];
            while (i < mid) spare[k++] = keys[i++];
            while (j < hi) spare[k++] = keys[j++];
        }
        struct sort_key *swap = keys;
        keys = spare;
        spare = swap;
    }
    return keys;
}

/* OpenZeppelin's StandardMerkleTree layout of n leaf hashes: leaves sorted by bytes when `sort`
 * is set, leaf r of that order at node 2n-2-r, internal nodes hashed deepest first. `tree`
 * receives the 2n-1 nodes; `tree_index[i]` the node of leaf i; `work` is scratch of 32 bytes
 * per leaf. */
int ts_standard_tree(const uint8_t *leaves, size_t n, int sort, uint8_t *tree,
                     int64_t *tree_index, void *work) {
    if (n == 0) return -1;
    struct sort_key *keys = work, *spare = keys + n;
    for (size_t i = 0; i < n; i++) {
        keys[i].head = 0;
        for (int k = 0; k < 8; k++) keys[i].head = keys[i].head << 8 | leaves[DIGEST * i + k];
        keys[i].index = i;
    }
    if (sort) keys = sort_leaves(leaves, n, keys, spare);
    size_t last = 2 * n - 2;
    for (size_t r = 0; r < n; r++) {
        memcpy(tree + DIGEST * (last - r), leaves + DIGEST * keys[r].index, DIGEST);
        tree_index[keys[r].index] = (int64_t)(last - r);
    }
    if (n == 1) return 0;
    /* depth d holds nodes 2**d - 1 .. 2**(d+1) - 2; the deepest internal one holds n - 2 */
    int depth = 0;
    while (((size_t)2 << depth) - 1 <= n - 2) depth++;
    for (; depth >= 0; depth--) {
        size_t lo = ((size_t)1 << depth) - 1, hi = ((size_t)2 << depth) - 2;
        ts_merkle_level(tree, lo, hi < n - 2 ? hi : n - 2);
    }
    return 0;
}

static const char HEX[] = "0123456789abcdef";

static const uint8_t *hex_address(const void *ctx, size_t i, uint8_t *scratch) {
    const uint8_t *address = (const uint8_t *)ctx + 20 * i;
    for (int k = 0; k < 20; k++) {
        scratch[2 * k] = (uint8_t)HEX[address[k] >> 4];
        scratch[2 * k + 1] = (uint8_t)HEX[address[k] & 15];
    }
    return scratch;
}

/* out[43*i..] = "0x", the EIP-55 form of the 20-byte address raw[20*i..] and a line feed (one
 * split makes the Python strings): a hex letter is upper case when the matching nibble of
 * keccak256(lower-case hex) is 8 or more. */
int ts_eip55(const uint8_t *raw, size_t count, char *out) {
    enum { CHUNK = 1024 };
    uint8_t hashes[CHUNK * DIGEST];
    for (size_t start = 0; start < count; start += CHUNK) {
        size_t n = count - start < CHUNK ? count - start : CHUNK;
        const uint8_t *chunk = raw + 20 * start;
        run(hex_address, chunk, n, 40, hashes, DIGEST, 0);
        for (size_t i = 0; i < n; i++) {
            char *text = out + 43 * (start + i);
            const uint8_t *hash = hashes + DIGEST * i;
            text[0] = '0';
            text[1] = 'x';
            for (int k = 0; k < 40; k++) {
                uint8_t byte = chunk[20 * i + k / 2];
                unsigned digit = k % 2 ? byte & 15 : byte >> 4;
                unsigned nibble = k % 2 ? hash[k / 2] & 15 : hash[k / 2] >> 4;
                /* without branches (the nibbles are random): clearing bit 5 upper-cases a-f */
                unsigned upper = (digit > 9) & (nibble >> 3);
                text[2 + k] = (char)(HEX[digit] ^ (upper << 5));
            }
            text[42] = '\n';
        }
    }
    return 0;
}
