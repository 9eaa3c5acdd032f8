/* The simhash of a message's normalised text (engagement/text.py), computed natively.
 *
 * Charikar's simhash over the character 3-grams of the text with every " " read as "_"; a
 * 3-gram's feature is the 8-byte BLAKE2b digest (RFC 7693 with outlen 8, unkeyed) of its UTF-8
 * bytes, read big-endian. A bit of the result is set when more than half of the features set it.
 * The result must equal the Python code's for every text: the hashes are stored in the ledger and
 * anyone recomputes them.
 *
 * Entry point:
 *   ts_simhash  the simhash of `len` bytes of UTF-8 (0 for no bytes, never 0 otherwise)
 *
 * Called with the GIL held (ctypes.PyDLL), so the 3-gram cache below needs no lock.
 */

#include <stddef.h>
#include <stdint.h>

#define SHINGLE 3
#define CACHE_BITS 14 /* 16384 slots: 3-grams repeat across messages far more than they vary */

static const uint64_t IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

#define G(a, b, c, d, x, y)                                                                        \
    do {                                                                                           \
        v[a] = v[a] + v[b] + (x);                                                                  \
        v[d] = rotr64(v[d] ^ v[a], 32);                                                            \
        v[c] = v[c] + v[d];                                                                        \
        v[b] = rotr64(v[b] ^ v[c], 24);                                                            \
        v[a] = v[a] + v[b] + (y);                                                                  \
        v[d] = rotr64(v[d] ^ v[a], 16);                                                            \
        v[c] = v[c] + v[d];                                                                        \
        v[b] = rotr64(v[b] ^ v[c], 63);                                                            \
    } while (0)

/* Round r of the compression function; with r a constant, every message index is one too. */
#define ROUND(r)                                                                                   \
    do {                                                                                           \
        G(0, 4, 8, 12, m[SIGMA[r][0]], m[SIGMA[r][1]]);                                            \
        G(1, 5, 9, 13, m[SIGMA[r][2]], m[SIGMA[r][3]]);                                            \
        G(2, 6, 10, 14, m[SIGMA[r][4]], m[SIGMA[r][5]]);                                           \
        G(3, 7, 11, 15, m[SIGMA[r][6]], m[SIGMA[r][7]]);                                           \
        G(0, 5, 10, 15, m[SIGMA[r][8]], m[SIGMA[r][9]]);                                           \
        G(1, 6, 11, 12, m[SIGMA[r][10]], m[SIGMA[r][11]]);                                         \
        G(2, 7, 8, 13, m[SIGMA[r][12]], m[SIGMA[r][13]]);                                          \
        G(3, 4, 9, 14, m[SIGMA[r][14]], m[SIGMA[r][15]]);                                          \
    } while (0)

/* BLAKE2b-64 of `len` <= 16 bytes, given zero-padded to 16 as two little-endian words: one
 * final block. Returned as Python reads the digest: big-endian. */
static uint64_t feature(uint64_t low, uint64_t high, size_t len) {
    /* The rest of the block is zero; with the rounds written out, the compiler drops it. */
    const uint64_t m[16] = {low, high};
    /* Parameter block: digest length 8, no key, fanout 1, depth 1. */
    const uint64_t h0 = IV[0] ^ 0x01010000ULL ^ 8;
    uint64_t v[16] = {
        h0,    IV[1], IV[2], IV[3], IV[4], IV[5], IV[6],  IV[7],
        IV[0], IV[1], IV[2], IV[3], IV[4] ^ len, IV[5], ~IV[6], IV[7],
    };
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
    return __builtin_bswap64(h0 ^ v[0] ^ v[8]); /* the digest's first 8 bytes */
}

/* A direct-mapped cache of 3-gram features. A slot's key is the 3-gram's bytes, zero-padded,
 * and its length; length 0 marks an empty slot (every 3-gram has at least one byte). */
struct slot {
    uint64_t low, high; /* bytes 0-7; bytes 8-11 and the length in bits 32-39 */
    uint64_t value;
};

static struct slot cache[1 << CACHE_BITS];

static inline uint64_t load_le64(const unsigned char *p) {
    uint64_t word = 0;
    for (int k = 7; k >= 0; k--) word = word << 8 | p[k];
    return word;
}

/* The feature of the `len` (1 to 12) bytes at `bytes`, every " " read as "_". */
static uint64_t cached_feature(const unsigned char *bytes, size_t len) {
    unsigned char padded[16] = {0};
    for (size_t i = 0; i < len; i++) padded[i] = bytes[i] == ' ' ? '_' : bytes[i];
    const uint64_t low = load_le64(padded), high = load_le64(padded + 8);
    const uint64_t key = high | (uint64_t)len << 32; /* bytes 12-15 are zero */
    const uint64_t mixed = (low ^ rotr64(key, 29)) * 0x9e3779b97f4a7c15ULL;
    struct slot *slot = &cache[mixed >> (64 - CACHE_BITS)];
    if (slot->low == low && slot->high == key) return slot->value;
    const uint64_t value = feature(low, high, len);
    slot->low = low;
    slot->high = key;
    slot->value = value;
    return value;
}

/* Bytes of the UTF-8 character that starts at `s[at]`, never reaching past `len`. */
static inline size_t char_end(const unsigned char *s, size_t at, size_t len) {
    unsigned char lead = s[at];
    size_t width = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    return at + width < len ? at + width : len;
}

uint64_t ts_simhash(const unsigned char *s, size_t len) {
    if (len == 0) return 0;
    /* Starts of the window's characters and the end of its last one. */
    size_t start[SHINGLE + 1];
    size_t chars = 0, at = 0;
    start[0] = 0;
    while (chars < SHINGLE && at < len) {
        at = char_end(s, at, len);
        start[++chars] = at;
    }
    if (at == len) { /* at most 3 characters: one shingle */
        uint64_t only = cached_feature(s, len);
        return only ? only : 1;
    }
    /* Vote counters kept bit-sliced: slices[j] holds bit j of all 64 counters. */
    uint64_t slices[64] = {0};
    uint64_t shingles = 0;
    for (;;) {
        uint64_t carry = cached_feature(s + start[0], start[SHINGLE] - start[0]);
        for (int j = 0; carry; j++) {
            uint64_t current = slices[j];
            slices[j] = current ^ carry;
            carry &= current;
        }
        shingles++;
        if (start[SHINGLE] >= len) break;
        start[0] = start[1];
        start[1] = start[2];
        start[2] = start[3];
        start[3] = char_end(s, start[3], len);
    }
    /* A bit is set when its count exceeds shingles / 2: compare each counter with the threshold
     * from the most significant bit down, all 64 at once. */
    uint64_t threshold = shingles / 2, greater = 0, equal = ~0ULL;
    for (int j = 63; j >= 0; j--) {
        uint64_t bit = slices[j];
        if (threshold >> j & 1) {
            equal &= bit;
        } else {
            greater |= equal & bit;
            equal &= ~bit;
        }
    }
    return greater ? greater : 1;
}
