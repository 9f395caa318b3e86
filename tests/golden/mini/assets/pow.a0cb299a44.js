/* The proof-of-work worker of `device+pow` mode, loaded by vote.js only in that mode.

   Finds a decimal counter such that SHA-256(challenge ":" counter) starts with `bits`
   zero bits (the server checks it with one hash: ballotbox/core/identity.py). Plain
   synchronous SHA-256: WebCrypto's digest is asynchronous and costs far more per call
   than the hash itself. The challenge's whole 64-byte blocks are hashed once (the
   midstate); each try hashes only the tail. Progress is posted every 4096 tries. */
'use strict';
var K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
var W = new Int32Array(64);

function block(H, b, o) { // one 64-byte block of b at offset o into state H
  for (var i = 0; i < 16; i++) {
    W[i] = (b[o + 4 * i] << 24) | (b[o + 4 * i + 1] << 16) | (b[o + 4 * i + 2] << 8) | b[o + 4 * i + 3];
  }
  for (i = 16; i < 64; i++) {
    var x = W[i - 15], y = W[i - 2];
    var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  var a = H[0], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7], bb = H[1];
  for (i = 0; i < 64; i++) {
    var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    var t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
  }
  H[0] = (H[0] + a) | 0; H[1] = (H[1] + bb) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
}

function zeros(H) { // leading zero bits of the digest
  for (var i = 0, n = 0; i < 8; i++) {
    var z = Math.clz32(H[i]);
    n += z;
    if (z < 32) return n;
  }
  return n;
}

self.onmessage = function (ev) {
  var prefix = ev.data.challenge + ':';
  var bits = ev.data.bits;
  var bytes = new Uint8Array(prefix.length);
  for (var i = 0; i < prefix.length; i++) bytes[i] = prefix.charCodeAt(i) & 0x7f; // ASCII
  var full = prefix.length - (prefix.length % 64);
  var mid = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  for (i = 0; i < full; i += 64) block(mid, bytes, i);
  var rest = bytes.subarray(full);
  var tail = new Uint8Array(128);
  var H = new Int32Array(8);
  var expected = Math.pow(2, bits);
  for (var n = 0; ; n++) {
    var digits = String(n);
    var len = rest.length + digits.length;
    tail.fill(0);
    tail.set(rest);
    for (i = 0; i < digits.length; i++) tail[rest.length + i] = digits.charCodeAt(i);
    tail[len] = 0x80;
    var blocks = len + 9 > 64 ? 2 : 1;
    var total = (prefix.length + digits.length) * 8; // message length in bits (< 2^32)
    var end = blocks * 64;
    tail[end - 4] = total >>> 24; tail[end - 3] = (total >>> 16) & 255;
    tail[end - 2] = (total >>> 8) & 255; tail[end - 1] = total & 255;
    H.set(mid);
    block(H, tail, 0);
    if (blocks === 2) block(H, tail, 64);
    if (zeros(H) >= bits) {
      self.postMessage({ done: true, solution: digits, tries: n + 1 });
      return;
    }
    if ((n & 4095) === 4095) self.postMessage({ done: false, progress: Math.min(0.99, n / expected) });
  }
};
