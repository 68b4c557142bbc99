/* What both pages share: the token (from #token=... or the sign-in form,
 * kept in sessionStorage), calls to tierd-http's /v1 routes with it, errors
 * in words, and small DOM and formatting helpers. Nothing is written with
 * innerHTML: every value from the API goes in as text.
 * ES2017, no build step, no other hosts (CSP default-src 'self'). */
'use strict';

var Tierd = (function () {
  var TOKEN_KEY = 'tierd.token';

  /* Counted on the root element, so a test (or a person in the console)
   * sees that nothing was blocked under tierd-http's CSP. */
  document.addEventListener('securitypolicyviolation', function (e) {
    var root = document.documentElement;
    root.dataset.cspViolations = String(Number(root.dataset.cspViolations || 0) + 1);
    root.dataset.cspLast = e.violatedDirective + ' ' + e.blockedURI;
  });

  /* The token from the address bar's fragment (#token=...), which is then
   * removed from the address bar and the history entry, or the one stored
   * for this tab. */
  function token() {
    var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      try {
        sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      } catch (e) { /* storage off: the token lives for this page only */
        Tierd.memoryToken = decodeURIComponent(m[1]);
      }
      history.replaceState(null, '', location.pathname + location.search);
    }
    var t = null;
    try { t = sessionStorage.getItem(TOKEN_KEY); } catch (e) { t = null; }
    return t || Tierd.memoryToken || null;
  }

  function setToken(t) {
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { Tierd.memoryToken = t; }
  }

  function signOut() {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
    Tierd.memoryToken = null;
  }

  function ApiError(status, code, message) {
    this.name = 'ApiError';
    this.status = status; /* HTTP status, 0 when no answer came */
    this.code = code;     /* gRPC-style code name, e.g. NOT_FOUND */
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /* Waits ms milliseconds. */
  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  /* A 429 (the token's request rate) is retried this many times, after the
   * Retry-After the server gives (capped): a page that asks for many
   * partners at once slows down instead of failing. */
  var RATE_RETRIES = 5;
  var RATE_WAIT_MAX_MS = 5000;

  /* Calls a /v1 route (path without the leading /v1/) with the token and
   * resolves with the parsed JSON; rejects with an ApiError (code
   * CANCELLED when opts.signal aborted it). */
  async function api(path, opts) {
    opts = opts || {};
    var headers = { 'Accept': 'application/json' };
    var t = token();
    if (t) headers['Authorization'] = 'Bearer ' + t;
    var init = { method: opts.method || 'GET', headers: headers, cache: 'no-store',
                 credentials: 'omit' };
    if (opts.signal) init.signal = opts.signal; /* an AbortController's: a long-poll let go */
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    var res;
    for (var attempt = 0; ; attempt++) {
      try {
        res = await fetch('/v1/' + path, init);
      } catch (e) {
        if (e && e.name === 'AbortError') throw new ApiError(0, 'CANCELLED', 'cancelled by the page');
        throw new ApiError(0, 'UNAVAILABLE', 'tierd-http did not answer (' + e.message + ')');
      }
      if (res.status !== 429 || attempt >= RATE_RETRIES) break;
      var after = Number(res.headers.get('Retry-After'));
      await sleep(Math.min(RATE_WAIT_MAX_MS, (isFinite(after) && after > 0 ? after : 1) * 1000));
    }
    var text = await res.text();
    var body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!res.ok) {
      var err = body && body.error ? body.error : {};
      throw new ApiError(res.status, err.code || ('HTTP_' + res.status),
                         err.message || text || res.statusText);
    }
    if (body === null && text)
      throw new ApiError(res.status, 'INTERNAL', 'the answer is not JSON');
    return body || {};
  }

  /* An error as a sentence a person can act on. */
  function describe(e) {
    if (!(e instanceof ApiError))
      return 'Something went wrong in this page: ' + (e && e.message ? e.message : String(e));
    var m = e.message ? ': ' + e.message : '';
    switch (e.code) {
    case 'UNAUTHENTICATED':
      return 'No valid token was given; sign in with your token' + m;
    case 'PERMISSION_DENIED':
      return 'This token may not do that' + m;
    case 'NOT_FOUND':
      return 'Not found' + m;
    case 'UNAVAILABLE':
      return 'tierd cannot be reached right now' + m;
    case 'FAILED_PRECONDITION':
      return 'Not possible now' + m;
    case 'RESOURCE_EXHAUSTED':
      return 'Too many requests or too much data; try again shortly' + m;
    default:
      return 'The server answered ' + e.code + m;
    }
  }

  /* el('p', {class: 'x', text: 'hi'}, [children]): attributes as given
   * ('text' sets textContent, 'on' an object of listeners). */
  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') n.textContent = v;
      else if (k === 'on') Object.keys(v).forEach(function (ev) { n.addEventListener(ev, v[ev]); });
      else n.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      n.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return n;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  /* Numbers as the JSON mapping may give them: a number, or "NaN",
   * "Infinity" as strings. null when absent or not a number. */
  function num(v) {
    if (v === null || v === undefined || v === '') return null;
    var n = typeof v === 'number' ? v : Number(v);
    return isFinite(n) ? n : null;
  }

  var numFmt = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });
  function fmtNum(v) {
    var n = num(v);
    return n === null ? 'no value yet' : numFmt.format(n);
  }

  function pct(v) {
    var n = num(v);
    return n === null ? '–' : (n * 100).toFixed(1) + '%';
  }

  /* A time from the API (RFC 3339 string, null for none) as a UTC date. */
  function fmtDate(t) {
    if (!t) return '–';
    var d = new Date(t);
    return isNaN(d) ? String(t) : d.toISOString().slice(0, 10);
  }

  function fmtTime(t) {
    if (!t) return '–';
    var d = new Date(t);
    return isNaN(d) ? String(t) : d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  /* A <time> element for an API time. */
  function time(t, withClock) {
    return el('time', { datetime: t || null, text: withClock ? fmtTime(t) : fmtDate(t) });
  }

  function tierName(t) {
    return t ? t : 'unranked';
  }

  /* Enum names as words: DUE_REVIEW_POINT -> "review point". */
  function words(name, prefix) {
    if (!name) return '';
    var s = String(name);
    if (prefix && s.indexOf(prefix) === 0) s = s.slice(prefix.length);
    return s.toLowerCase().replace(/_/g, ' ');
  }

  /* How far a criterion is toward met, in [0, 1]. */
  function progressShare(c) {
    if (c.met) return 1;
    var v = num(c.value), th = num(c.threshold);
    if (v === null || th === null) return 0;
    switch (c.op) {
    case '>=': case '>':
      return th <= 0 ? 0 : Math.max(0, Math.min(1, v / th));
    case '<=': case '<':
      return v <= 0 ? 0 : Math.max(0, Math.min(1, th / v));
    default:
      return 0;
    }
  }

  /* A <progress> bar for a criterion or gap, with its text beside it. */
  function progress(c, label) {
    var share = progressShare(c);
    var pctText = Math.round(share * 100) + '%';
    var bar = el('progress', { max: 100, value: Math.round(share * 100),
                               'aria-label': label + ': ' + pctText + ' of the threshold' });
    bar.textContent = pctText;
    return bar;
  }

  /* Shows msg in the page's alert region (role=alert), or clears it. */
  function showError(msg) {
    var box = document.getElementById('error');
    if (!box) return;
    clear(box);
    if (msg) {
      box.appendChild(el('p', { text: msg }));
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  function status(msg) {
    var s = document.getElementById('status');
    if (s) s.textContent = msg || '';
  }

  /* Wires the sign-in form and the sign-out button; calls start(whoami)
   * once a token the server knows is at hand. */
  async function boot(start) {
    var form = document.getElementById('signin');
    var out = document.getElementById('signout');
    if (form && !form.dataset.wired) {
      form.dataset.wired = '1';
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var v = form.elements.token.value.trim();
        if (!v) return;
        setToken(v);
        form.elements.token.value = '';
        boot(start);
      });
    }
    if (out && !out.dataset.wired) {
      out.dataset.wired = '1';
      out.addEventListener('click', function () {
        signOut();
        location.reload();
      });
    }
    var t = token();
    document.body.classList.toggle('signed-in', !!t);
    if (form) form.hidden = !!t;
    if (out) out.hidden = !t;
    if (!t) {
      status('Sign in with your token to continue.');
      return;
    }
    status('Loading…');
    var who;
    try {
      who = await api('whoami');
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        signOut();
        if (form) form.hidden = false;
        if (out) out.hidden = true;
        document.body.classList.remove('signed-in');
      }
      showError(describe(e));
      status('');
      return;
    }
    showError(null);
    var whoEl = document.getElementById('who');
    if (whoEl)
      whoEl.textContent = 'Signed in as ' + (who.name || 'token') + ' (' +
                          (who.partner ? 'partner ' + who.partner : who.role) + ')';
    try {
      await start(who);
      status('');
    } catch (e) {
      showError(describe(e));
      status('');
    }
  }

  return { token: token, setToken: setToken, signOut: signOut, api: api, ApiError: ApiError, sleep: sleep,
           describe: describe, el: el, clear: clear, num: num, fmtNum: fmtNum, pct: pct,
           fmtDate: fmtDate, fmtTime: fmtTime, time: time, tierName: tierName, words: words,
           progressShare: progressShare, progress: progress, showError: showError,
           status: status, boot: boot, memoryToken: null };
})();
