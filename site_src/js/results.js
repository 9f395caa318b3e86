/* The results page's receipt checker: proves a vote is inside the published Merkle root.
   Same rules as opstools/merkle.py: leaf = SHA-256(0x00 || receipt UTF-8), node =
   SHA-256(0x01 || left || right), RFC 9162 path verification. The proof comes from the
   small per-prefix file under /audit/proofs/; only the root on this page is trusted. */
(function () {
  'use strict';
  var form = document.getElementById('check');
  if (!form || !window.crypto || !crypto.subtle || !window.fetch) return;
  var out = document.getElementById('check-out');
  var cfg = form.dataset;
  var size = Number(cfg.size);

  function hex(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }
  function unhex(s) {
    var a = new Uint8Array(s.length / 2);
    for (var i = 0; i < a.length; i++) a[i] = parseInt(s.substr(i * 2, 2), 16);
    return a;
  }
  function cat(prefix, parts) {
    var n = 1, i, off = 1;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var a = new Uint8Array(n);
    a[0] = prefix;
    for (i = 0; i < parts.length; i++) { a.set(parts[i], off); off += parts[i].length; }
    return a;
  }
  function sha(bytes) {
    return crypto.subtle.digest('SHA-256', bytes).then(function (d) { return new Uint8Array(d); });
  }
  // {n} is the value; {n|receipt|receipts} the first form when n is 1 (strings.yaml).
  function fmt(s, v) {
    return s.replace(/\{(\w+)(?:\|([^|{}]*)\|([^|{}]*))?\}/g, function (_, k, one, other) {
      return one === undefined ? v[k] : Number(v[k]) === 1 ? one : other;
    });
  }

  // RFC 9162 §2.1.3.2; indexes stay far below 2^31, so bit operations are exact.
  async function fold(leaf, index, path) {
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < path.length; i++) {
      if (sn === 0) return false;
      var p = unhex(path[i]);
      if ((fn & 1) || fn === sn) {
        r = await sha(cat(1, [p, r]));
        while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; }
      } else {
        r = await sha(cat(1, [r, p]));
      }
      fn >>= 1; sn >>= 1;
    }
    return sn === 0 && hex(r) === cfg.root;
  }

  var buckets = {};
  function bucket(id) {
    var name = id.slice(0, Number(cfg.prefix));
    if (!buckets[name]) {
      buckets[name] = fetch(cfg.base + name + '.json').then(function (r) {
        return r.ok ? r.json() : { proofs: {} };
      });
    }
    return buckets[name];
  }

  async function proves(receipt) {
    var id = JSON.parse(receipt).vote_id;
    var entry = (await bucket(id)).proofs[id];
    if (!entry) return false;
    var leaf = await sha(cat(0, [new TextEncoder().encode(receipt)]));
    return fold(leaf, entry.index, entry.path);
  }

  function receiptOf(text) {
    var obj = JSON.parse(text);
    if (typeof obj.receipt === 'string') return obj.receipt;
    if (obj.v === 1 && typeof obj.vote_id === 'string') return text.trim();
    throw new Error('no receipt');
  }

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var receipt, id;
    try {
      receipt = receiptOf(form.receipt.value);
      id = JSON.parse(receipt).vote_id;
    } catch (e) {
      out.textContent = cfg.bad;
      return;
    }
    var ok = false;
    try { ok = await proves(receipt); } catch (e) { ok = false; }
    out.textContent = fmt(ok ? cfg.ok : cfg.fail, { id: id });
  });
  form.hidden = false;

  // Receipts the vote page kept on this device (IndexedDB 'vote-<campaign>').
  if (!window.indexedDB) return;
  var req = indexedDB.open('vote-' + cfg.campaign);
  req.onupgradeneeded = function () { req.transaction.abort(); }; // no votes here: create nothing
  req.onsuccess = function () {
    var db = req.result;
    if (!db.objectStoreNames.contains('receipts')) { db.close(); return; }
    var all = db.transaction('receipts').objectStore('receipts').getAll();
    all.onsuccess = async function () {
      var list = all.result || [];
      db.close();
      if (!list.length) return;
      var ok = 0;
      for (var i = 0; i < list.length; i++) {
        try { if (await proves(list[i].receipt)) ok++; } catch (e) { /* counted as not proved */ }
      }
      out.textContent = fmt(cfg.stored, { n: list.length, ok: ok });
    };
  };
})();
