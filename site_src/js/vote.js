/* The vote page's client: a device key, signed ballots, an outbox that survives bad
   networks, and receipts checked in the page.

   A classic ES2017 script, no framework: WeChat's in-app browsers (X5/XWeb) run old
   Chromium cores. Contracts (ballot, POST /api/vote, GET /api/status) are in docs/http-api.md.
   The page's texts and settings arrive in the page's JSON block: no extra request. */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('vote-config').textContent);
  var S = cfg.strings;
  var API = cfg.api.replace(/\/+$/, '');
  var ED = { name: 'Ed25519' };
  var subtle = window.crypto && window.crypto.subtle;
  var $ = function (id) { return document.getElementById(id); };
  var live = $('vote-live');
  var stateNote = $('vote-state');
  var dialog = $('confirm');
  var items = Array.prototype.slice.call(document.querySelectorAll('li[data-id]'));
  var byId = {};
  items.forEach(function (li) { byId[li.getAttribute('data-id')] = li; });

  var dev = null; // the device key record, as stored
  var me = ''; // its public key, base64url: the voter
  var status = null; // the last GET /api/status answer
  var skew = 0; // server clock minus this phone's clock, in ms
  var reachable = true;
  var keyless = false; // this browser could make no key at all
  var pending = {}; // nonce -> outbox entry not yet answered for good
  var notes = {}; // candidate -> the last outcome shown next to it
  var receipts = []; // stored receipts, with their check result

  // {n} is the value; {n|vote|votes} the first form when n is 1, else the second
  // (strings.yaml; sitegen.render.Text reads the same syntax).
  function fmt(text, vars) {
    return text.replace(/\{(\w+)(?:\|([^|{}]*)\|([^|{}]*))?\}/g, function (m, k, one, other) {
      if (!(k in vars)) return m;
      return one === undefined ? String(vars[k]) : Number(vars[k]) === 1 ? one : other;
    });
  }

  // -- encoding (docs/http-api.md: base64url without padding) --------------------

  function b64u(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function unb64u(text) {
    var s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function utf8(text) { return new TextEncoder().encode(text); }
  async function sha256(bytes) { return new Uint8Array(await subtle.digest('SHA-256', bytes)); }
  function hex(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return s;
  }

  // -- storage: IndexedDB, or memory where a browser refuses it (a new voter each visit) --

  var db = null;
  var mem = { kv: {}, outbox: {}, receipts: {} };
  var KEYS = { outbox: 'nonce', receipts: 'vote_id' };

  function openDb() {
    return new Promise(function (ok, no) {
      var r = indexedDB.open('vote-' + cfg.campaign, 1);
      r.onupgradeneeded = function () {
        r.result.createObjectStore('kv');
        r.result.createObjectStore('outbox', { keyPath: 'nonce' });
        r.result.createObjectStore('receipts', { keyPath: 'vote_id' });
      };
      r.onsuccess = function () { ok(r.result); };
      r.onerror = function () { no(r.error); };
    });
  }
  function request(r) {
    return new Promise(function (ok, no) {
      r.onsuccess = function () { ok(r.result); };
      r.onerror = function () { no(r.error); };
    });
  }
  function write(store, fn) {
    return new Promise(function (ok, no) {
      var t = db.transaction(store, 'readwrite');
      fn(t.objectStore(store));
      t.oncomplete = function () { ok(); }; // durable before we go on
      t.onerror = t.onabort = function () { no(t.error); };
    });
  }
  function get(store, key) {
    return db ? request(db.transaction(store).objectStore(store).get(key)) : Promise.resolve(mem[store][key]);
  }
  function all(store) {
    if (db) return request(db.transaction(store).objectStore(store).getAll());
    return Promise.resolve(Object.keys(mem[store]).map(function (k) { return mem[store][k]; }));
  }
  function put(store, value, key) {
    if (db) return write(store, function (s) { if (key) s.put(value, key); else s.put(value); });
    mem[store][key || value[KEYS[store]]] = value;
    return Promise.resolve();
  }
  function del(store, key) {
    if (db) return write(store, function (s) { s.delete(key); });
    delete mem[store][key];
    return Promise.resolve();
  }

  // -- the device key: native Ed25519 where it truly works, else the lazy fallback --

  var noble = null;
  function fallback() {
    if (!noble) noble = import(cfg.ed25519);
    return noble;
  }

  async function nativeDevice() {
    // Support is proven, not sniffed: some WebViews list Ed25519 but cannot sign with a
    // stored key, so generate, sign, store, read back and sign again.
    var probe = utf8('probe');
    var pair = await subtle.generateKey(ED, false, ['sign', 'verify']);
    await subtle.sign(ED, pair.privateKey, probe);
    var pub = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    await put('kv', { kind: 'webcrypto', key: pair.privateKey, pub: pub }, 'device');
    var back = await get('kv', 'device');
    var sig = await subtle.sign(ED, back.key, probe);
    if (!(await subtle.verify(ED, pair.publicKey, sig, probe))) throw new Error('Ed25519 probe');
    return back;
  }

  async function fallbackDevice() {
    var ed = await fallback();
    var seed = crypto.getRandomValues(new Uint8Array(32));
    await put('kv', { kind: 'noble', seed: seed, pub: await ed.getPublicKeyAsync(seed) }, 'device');
    var back = await get('kv', 'device');
    await ed.signAsync(utf8('probe'), back.seed);
    return back;
  }

  async function loadDevice() {
    var found = await get('kv', 'device');
    if (found && found.pub && (found.key || found.seed)) return found; // losing it = a new voter
    try {
      return await nativeDevice();
    } catch (err) {
      return fallbackDevice();
    }
  }

  async function sign(bytes) {
    if (dev.kind === 'webcrypto') return new Uint8Array(await subtle.sign(ED, dev.key, bytes));
    return (await fallback()).signAsync(bytes, dev.seed);
  }

  async function verifyReceipt(sig, msg) {
    var pub = unb64u(cfg.receipt_key);
    if (dev.kind === 'webcrypto') {
      try {
        var key = await subtle.importKey('raw', pub, ED, false, ['verify']);
        return await subtle.verify(ED, key, sig, msg);
      } catch (err) {
        // fall through: verification needs no stored key, the library can do it
      }
    }
    return (await fallback()).verifyAsync(sig, msg, pub);
  }

  // -- identity modes (README "Identity modes"): a credential before the first vote ------

  var ID = cfg.identity || { mode: 'device' };
  var cred = null; // { token, expires, voter } from POST /api/credential
  var gate = ''; // why the buttons wait: the PoW progress, the WeChat sign-in or its failure

  function credValid() {
    return !!cred && cred.voter === me && Date.parse(cred.expires) - 60000 > Date.now() + skew;
  }
  function authHeaders(h) {
    // Its own header (docs/http-api.md): CloudFront's origin access control overwrites
    // Authorization with its signature, and forwards no Authorization on a GET.
    if (cred) h['X-Vote-Credential'] = cred.token;
    return h;
  }
  async function credential(body, headers) {
    var text = JSON.stringify(body);
    var res = await fetch(API + '/credential', {
      method: 'POST', body: text, cache: 'no-store',
      // Every POST carries its body's SHA-256: behind origin access control the Function
      // URL refuses a POST without it (see send()).
      headers: Object.assign({ 'Content-Type': 'application/json', 'x-amz-content-sha256': hex(await sha256(utf8(text))) },
        headers || {}),
    });
    var data = await res.json();
    if (!res.ok) throw data;
    cred = { token: data.credential, expires: data.expires, voter: me };
    await put('kv', cred, 'credential');
  }
  function solve(challenge, bits) {
    // The worker is its own file, fetched only in this mode and only when needed.
    return new Promise(function (ok, no) {
      var w = new Worker(ID.worker);
      w.onmessage = function (e) {
        if (e.data.done) { w.terminate(); ok(e.data.solution); return; }
        gate = fmt(S.pow_progress, { p: Math.round(e.data.progress * 100) });
        render();
      };
      w.onerror = function (e) { w.terminate(); no(e); };
      w.postMessage({ challenge: challenge, bits: bits });
    });
  }
  async function earnPow() {
    gate = fmt(S.pow_progress, { p: 0 });
    render();
    var res = await fetch(API + '/challenge?voter=' + encodeURIComponent(me), { cache: 'no-store' });
    var ch = await res.json();
    if (!res.ok) throw ch;
    var solution = await solve(ch.challenge, ch.difficulty);
    await credential({ voter: me }, { 'X-Proof-Of-Work': ch.challenge + ':' + solution });
  }
  function inWeChat() { return /MicroMessenger/i.test(navigator.userAgent); }
  function signInWeChat() {
    // Silent OAuth: WeChat comes back to this page with ?code=...; the server, never this
    // page, trades the code for the OpenID.
    var back = location.href.split('#')[0].replace(/[?&](code|state)=[^&]*/g, '').replace(/^([^?]*)&/, '$1?');
    location.replace(ID.authorize + '?appid=' + encodeURIComponent(ID.appid) + '&redirect_uri=' +
      encodeURIComponent(back) + '&response_type=code&scope=snsapi_base&state=vote#wechat_redirect');
  }
  async function ensureIdentity() {
    if (ID.mode === 'device') return true;
    if (!cred) cred = (await get('kv', 'credential')) || null;
    if (credValid()) { gate = ''; return true; }
    cred = null;
    try {
      if (ID.mode === 'device+pow') await earnPow();
      else {
        var code = new URLSearchParams(location.search).get('code');
        if (!inWeChat()) { $('wechat-only').hidden = false; gate = S.wechat_only; render(); return false; }
        if (!code) { gate = S.signing_in; render(); signInWeChat(); return false; }
        history.replaceState(null, '', location.pathname);
        gate = S.signing_in;
        render();
        await credential({ voter: me, code: code });
      }
      gate = '';
      return true;
    } catch (err) {
      var reason = err && err.message && err.message[cfg.lang] || S.refused_generic;
      gate = ID.mode === 'wechat' ? fmt(S.signin_failed, { reason: reason }) : S.pow_failed;
      render();
      return false;
    }
  }

  // -- what the page shows ---------------------------------------------------------

  function announce(text) {
    // Clear first so that the same sentence twice is announced twice.
    live.textContent = '';
    setTimeout(function () { live.textContent = text; }, 60);
  }

  function title(id) { return byId[id] ? byId[id].getAttribute('data-title') : id; }

  function pendingFor(id) {
    return Object.keys(pending).some(function (n) { return pending[n].candidate === id; });
  }

  function untilMidnight() {
    var serverNow = Date.now() + skew;
    var next = Date.parse(status.day + 'T00:00:00+08:00') + 864e5;
    var minutes = Math.max(1, Math.ceil((next - serverNow) / 6e4));
    var h = Math.floor(minutes / 60);
    return h ? fmt(S.hours, { h: h, m: minutes % 60 }) : fmt(S.minutes, { m: minutes });
  }

  function left(id) {
    return status && status.votes_left && typeof status.votes_left[id] === 'number' ? status.votes_left[id] : null;
  }

  function render() {
    var state = status ? status.state : reachable ? 'loading' : 'unknown';
    // Unknown (offline since the page opened): offer the buttons, the server decides.
    var open = !!dev && !gate && (state === 'open' || state === 'unknown');
    var note = keyless ? S.no_key : gate ? gate : state === 'not_open' ? S.not_open : state === 'closed' ? S.closed
      : state === 'loading' ? S.loading : state === 'unknown' ? S.offline : '';
    stateNote.textContent = note;
    stateNote.hidden = !note;
    items.forEach(function (li) {
      var id = li.getAttribute('data-id');
      var n = left(id);
      var busy = pendingFor(id);
      var act = li.querySelector('.act');
      act.hidden = !open;
      li.querySelector('.left').textContent = n === null ? '' : fmt(S.left, { n: n });
      li.querySelector('button').disabled = busy || n === 0;
      var text = busy ? (reachable ? S.sending : S.sending_retry) : notes[id] || '';
      if (n === 0 && !busy) {
        text = (text ? text + ' ' : '') + fmt(S.limit, { cap: cfg.daily_cap, time: untilMidnight() });
      }
      li.querySelector('.outcome').textContent = text;
    });
    renderReceipts();
  }

  function renderReceipts() {
    var day = status ? status.day : null;
    var today = receipts.filter(function (r) { return !day || r.day === day; });
    today.sort(function (a, b) { return a.recorded_at < b.recorded_at ? -1 : 1; });
    var list = $('mine-list');
    list.textContent = '';
    today.forEach(function (r) {
      var li = document.createElement('li');
      li.textContent = fmt(S.receipt, {
        time: r.recorded_at.slice(11, 16), title: title(r.candidate), id: r.vote_id.slice(0, 8),
        check: r.ok ? S.verified : S.unverified,
      });
      if (!r.ok) li.className = 'bad';
      list.appendChild(li);
    });
    if (!today.length) {
      var none = document.createElement('li');
      none.textContent = S.none;
      list.appendChild(none);
    }
    $('mine').hidden = !dev;
  }

  // -- receipts ------------------------------------------------------------------

  async function check(entry) {
    // The server's signature over the receipt text, and that the receipt is about this
    // voter's exact ballot bytes: a receipt for someone else's ballot proves nothing.
    try {
      var body = JSON.parse(entry.receipt);
      entry.recorded_at = String(body.recorded_at || '');
      var sigOk = await verifyReceipt(unb64u(entry.receipt_signature), utf8(entry.receipt));
      entry.ok = !!sigOk && body.voter === me && body.vote_id === entry.vote_id &&
        body.candidate === entry.candidate && body.ballot_sha256 === entry.ballot_sha;
    } catch (err) {
      entry.ok = false;
    }
    return entry;
  }

  // -- voting: sign, store, then send until a definitive answer ----------------------

  async function cast(candidate) {
    var nonce = b64u(crypto.getRandomValues(new Uint8Array(16)));
    var ballot = JSON.stringify({
      v: 1, campaign: cfg.campaign, candidate: candidate, voter: me, nonce: nonce,
      issued_at: new Date(Date.now() + skew).toISOString(), // the server's clock, as best known
    });
    var ballotBytes = utf8(ballot);
    var body = JSON.stringify({ ballot: ballot, signature: b64u(await sign(ballotBytes)) });
    var entry = {
      nonce: nonce, candidate: candidate, body: body,
      sha: hex(await sha256(utf8(body))), ballot_sha: b64u(await sha256(ballotBytes)),
    };
    // Stored before the first send: a reload, a crash or a dead network loses nothing,
    // and every resend carries these same bytes, which the server counts once.
    await put('outbox', entry);
    pending[nonce] = entry;
    delete notes[candidate];
    render();
    announce(fmt(S.sending, {}));
    send(entry);
  }

  var inflight = {};
  var timers = {};
  var tries = {};

  function retryLater(entry, retryAfter) {
    tries[entry.nonce] = (tries[entry.nonce] || 0) + 1;
    var base = Math.min(60000, 1000 * Math.pow(2, tries[entry.nonce]));
    // Equal jitter: a cell tower's worth of phones coming back must not retry in step.
    var wait = Math.max(base / 2 + Math.random() * base / 2, retryAfter * 1000);
    clearTimeout(timers[entry.nonce]);
    timers[entry.nonce] = setTimeout(function () { send(entry); }, wait);
  }

  async function send(entry) {
    if (inflight[entry.nonce] || !pending[entry.nonce]) return;
    inflight[entry.nonce] = true;
    clearTimeout(timers[entry.nonce]);
    var res = null;
    var data = null;
    lastSend = Date.now();
    try {
      res = await fetch(API + '/vote', {
        method: 'POST',
        // CloudFront's origin access control signs a POST to the Function URL only with
        // the body's SHA-256 given by the client.
        headers: authHeaders({ 'Content-Type': 'application/json', 'x-amz-content-sha256': entry.sha }),
        body: entry.body,
        cache: 'no-store',
        credentials: 'same-origin',
      });
      data = await res.json();
    } catch (err) {
      data = null; // no answer, or not our JSON (a captive portal): try again later
    }
    inflight[entry.nonce] = false;
    var code = res ? res.status : 0;
    if (code === 200 && data && (data.status === 'recorded' || data.status === 'duplicate')) {
      await settle(entry);
      await recorded(entry, data);
    } else if (apiRefusal(res, code, data)) {
      await settle(entry);
      refused(entry, data);
    } else {
      reachable = false;
      render();
      retryLater(entry, Number(res && res.headers.get('Retry-After')) || 0);
      return;
    }
    reachable = true;
    render();
  }

  function apiRefusal(res, code, data) {
    // Only the API's own JSON refusal settles a ballot. A 403 from origin access control,
    // the WAF or China's API Gateway (HTML, XML or plain text), a 5xx, a captive portal or
    // no answer at all says nothing about the vote: it stays in the outbox and is resent.
    // network_limited is the API asking for patience (Retry-After), not a verdict.
    var type = res ? res.headers.get('Content-Type') || '' : '';
    return code >= 400 && code < 500 && /^application\/json\b/i.test(type) && !!data &&
      typeof data.error === 'string' && data.error !== 'network_limited';
  }

  async function settle(entry) {
    await del('outbox', entry.nonce);
    delete pending[entry.nonce];
    delete tries[entry.nonce];
  }

  async function recorded(entry, data) {
    var r = await check({
      vote_id: data.vote_id, candidate: entry.candidate, day: data.day, recorded_at: '',
      receipt: data.receipt, receipt_signature: data.receipt_signature, ballot_sha: entry.ballot_sha,
    });
    await put('receipts', { vote_id: r.vote_id, candidate: r.candidate, day: r.day,
      recorded_at: r.recorded_at, receipt: r.receipt, receipt_signature: r.receipt_signature,
      ballot_sha: r.ballot_sha });
    receipts = receipts.filter(function (x) { return x.vote_id !== r.vote_id; }).concat([r]);
    if (status && status.day === data.day) status.votes_left[entry.candidate] = data.votes_left_today;
    var text = fmt(S.recorded, { title: title(entry.candidate), id: data.vote_id.slice(0, 8), n: data.votes_left_today });
    notes[entry.candidate] = text;
    announce(text);
  }

  function refused(entry, data) {
    var reason = data && data.message && data.message[cfg.lang] || S.refused_generic;
    var text = fmt(S.refused, { title: title(entry.candidate), reason: reason });
    notes[entry.candidate] = text;
    announce(text);
    if (data && data.error === 'daily_limit_reached' && status) status.votes_left[entry.candidate] = 0;
    else if (data && /^(credential|proof)_/.test(data.error)) {
      cred = null; // earn a new one, then the voter taps again
      del('kv', 'credential').then(ensureIdentity).then(refresh);
    } else refresh(); // the window or the campaign moved under us: ask the server
  }

  function flush() {
    Object.keys(pending).forEach(function (n) { delete tries[n]; send(pending[n]); });
  }

  var lastSend = 0;
  function nudge() {
    // The voter's next tap retries the outbox now rather than at the end of a long backoff
    // (Android WebViews fire no 'online' event); at most once every few seconds.
    if (Object.keys(pending).length && Date.now() - lastSend > 3000) flush();
  }

  // -- the server's view: window state, today's counts, and when the day turns ------------

  var statusTimer = null;
  var statusTries = 0;

  async function refresh() {
    clearTimeout(statusTimer);
    try {
      var res = await fetch(API + '/status?voter=' + encodeURIComponent(me), { cache: 'no-store', headers: authHeaders({}) });
      if (!res.ok) {
        var why = await res.json().catch(function () { return null; });
        if (why && /^credential_/.test(why.error) && cred) {
          cred = null; // expired while the page slept: sign in again, then ask again
          await del('kv', 'credential');
          if (await ensureIdentity()) return refresh();
        }
        throw new Error('status ' + res.status);
      }
      status = await res.json();
      skew = Date.parse(status.now) - Date.now();
      reachable = true;
      statusTries = 0;
      // Refresh when the Beijing day turns (counts reset) or the window opens or closes.
      var serverNow = Date.now() + skew;
      var edges = [Date.parse(status.day + 'T00:00:00+08:00') + 864e5, Date.parse(cfg.opens), Date.parse(cfg.closes)]
        .filter(function (t) { return t > serverNow; });
      var wait = Math.min.apply(null, edges) - serverNow + 500 + Math.random() * 2000;
      statusTimer = setTimeout(refresh, Math.min(wait, 6 * 36e5));
    } catch (err) {
      reachable = false;
      statusTries += 1;
      statusTimer = setTimeout(refresh, Math.min(60000, 1000 * Math.pow(2, statusTries)) * (0.5 + Math.random() / 2));
    }
    render();
  }

  // -- the confirmation step ------------------------------------------------------------

  var choice = null;
  var opener = null;
  var modal = typeof dialog.showModal === 'function';
  if (!modal) {
    // No <dialog>: an in-page panel with the same semantics.
    dialog.setAttribute('role', 'dialog');
    dialog.setAttribute('aria-modal', 'true');
    dialog.hidden = true;
    dialog.className += ' fallback';
  }

  function ask(id, button) {
    choice = id;
    opener = button;
    $('confirm-text').textContent = fmt(S.confirm_text, { title: title(id), cap: cfg.daily_cap, n: left(id) === null ? cfg.daily_cap : left(id) });
    if (modal) dialog.showModal(); else dialog.hidden = false;
    // The safe choice has focus: confirming is a deliberate second tap.
    $('confirm-no').focus();
  }

  function closeDialog(confirmed) {
    var id = choice;
    choice = null;
    if (modal) { if (dialog.open) dialog.close(); } else dialog.hidden = true;
    if (confirmed && id) {
      cast(id).catch(function () { announce(S.no_key); });
    }
    var back = opener;
    opener = null;
    // Confirmed: focus moves to the outcome beside the candidate ("sending…", then the
    // answer); cancelled: back to the button that opened the step.
    if (confirmed && id) byId[id].querySelector('.outcome').focus();
    else if (back) back.focus();
  }

  $('confirm-yes').addEventListener('click', function () { closeDialog(true); });
  $('confirm-no').addEventListener('click', function () { closeDialog(false); });
  dialog.addEventListener('cancel', function (e) { e.preventDefault(); closeDialog(false); });
  dialog.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { e.preventDefault(); closeDialog(false); }
    if (!modal && e.key === 'Tab') { // keep focus inside the panel
      var yes = $('confirm-yes');
      var no = $('confirm-no');
      if (e.shiftKey ? document.activeElement === yes : document.activeElement === no) {
        e.preventDefault();
        (e.shiftKey ? no : yes).focus();
      }
    }
  });

  items.forEach(function (li) {
    var button = li.querySelector('button');
    button.addEventListener('click', function () {
      if (!button.disabled && choice === null) ask(li.getAttribute('data-id'), button);
    });
  });

  // -- start ---------------------------------------------------------------------------

  async function start() {
    render();
    try {
      db = await openDb();
    } catch (err) {
      db = null; // private mode or a locked-down WebView: this visit still works
    }
    try {
      dev = await loadDevice();
      me = b64u(dev.pub);
    } catch (err) {
      dev = null;
      keyless = true;
      render();
      return;
    }
    (await all('outbox')).forEach(function (e) { pending[e.nonce] = e; });
    receipts = await Promise.all((await all('receipts')).map(check));
    // Retries never wait for 'online' alone (Android WebViews do not fire it): each send
    // has its backoff timer, and coming back to the page or the voter's next tap also
    // resend. 'online' stays as one more hint where it exists.
    var wake = function () { refresh(); flush(); };
    window.addEventListener('online', wake);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) wake(); });
    // WeChat (and Safari) restore a page from the back-forward cache without reloading it:
    // its status and counts are stale, and ballots may be waiting.
    window.addEventListener('pageshow', function (e) { if (e.persisted) wake(); });
    document.addEventListener('pointerdown', nudge, true);
    document.addEventListener('keydown', nudge, true);
    if (!(await ensureIdentity())) return;
    flush(); // ballots signed on an earlier visit go out now
    await refresh();
  }

  start();
})();
