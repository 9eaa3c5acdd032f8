// Reference runner for @openzeppelin/merkle-tree, used by the Python tests and benchmarks.
//
// Reads one JSON request on stdin and prints one JSON answer on stdout.
//   {"op": "build", "values": [...], "encoding": [...], "sortLeaves": true, "multi": [[0, 2]]}
//     -> {"root", "proofs": [...], "multiproofs": [...], "dump", "verified": true}
//   {"op": "load", "dump": {...}}
//     -> {"root", "proofs": [...], "length"}, or {"error": message} when load() rejects it
//   {"op": "batch", "requests": [...]} -> [answer, ...] (one node start for many trees)
//   {"op": "csv", "path": "ALLOCATIONS.csv", "out": "DUMP.json"}
//     -> {"root", "count"}: builds a ["uint256","address","uint256"] tree from index,address,amount
//        rows, the way a JavaScript deployment script would, and writes the dump.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

function proofsOf(tree) {
  const proofs = [];
  for (const [i] of tree.entries()) proofs.push(tree.getProof(i));
  return proofs;
}

function build(request) {
  const tree = StandardMerkleTree.of(request.values, request.encoding, {
    sortLeaves: request.sortLeaves ?? true,
  });
  const proofs = proofsOf(tree);
  const verified = proofs.every((proof, i) => tree.verify(i, proof));
  const multiproofs = (request.multi ?? []).map(indices => tree.getMultiProof(indices));
  return { root: tree.root, proofs, multiproofs, dump: tree.dump(), verified };
}

function load(request) {
  let tree;
  try {
    tree = StandardMerkleTree.load(request.dump);
  } catch (error) {
    return { error: error.message };
  }
  return { root: tree.root, proofs: proofsOf(tree), length: tree.length };
}

function csv(request) {
  const rows = readFileSync(request.path, 'utf8')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line.length > 0 && !line.startsWith('index'))
    .map(line => line.split(','));
  const tree = StandardMerkleTree.of(rows, ['uint256', 'address', 'uint256']);
  writeFileSync(request.out, JSON.stringify(tree.dump()));
  return { root: tree.root, count: tree.length };
}

const ops = { build, load, csv, batch: request => request.requests.map(run) };

function run(request) {
  return ops[request.op](request);
}

process.stdout.write(JSON.stringify(run(JSON.parse(readFileSync(0, 'utf8')))));
