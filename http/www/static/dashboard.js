/* The program dashboard, for read and admin tokens: the tier distribution
 * of each ladder as a chart (SVG, with the numbers in a table), approvals
 * waiting (Approve and Deny for admin tokens only), partners at risk,
 * recent changes and the latest KPIs. Reads /v1/status, /v1/stats,
 * /v1/pending, /v1/partners?at_risk_within=, /v1/changes, /v1/kpi;
 * decides with POST /v1/pending/{id}/approve|deny. Recent changes and the
 * distribution follow tierd live: a long-poll on /v1/changes while the
 * page is visible. */
'use strict';

(function () {
  var T = Tierd, el = T.el, SVG = 'http://www.w3.org/2000/svg';
  var CHANGES_SHOWN = 20;
  var CHANGES_FOLDED = 10;
  /* At risk: a tier whose criteria lapse, or that is demoted, within this
   * many days of tierd's clock (or has lapsed: grace running). tierd finds
   * them (ListPartners at_risk_before); the page reads at most
   * AT_RISK_PAGES pages of AT_RISK_PAGE partners. */
  var AT_RISK_DAYS = 90;
  var AT_RISK_PAGE = 500;
  var AT_RISK_PAGES = 4;
  var AT_RISK_SHOWN = 50;
  var AT_RISK_FOLDED = 10;
  /* Waiting decisions shown before "Show all". */
  var PENDING_SHOWN = 10;
  /* Live updates: how long one long-poll waits in tierd-http (at most 30 s
   * there), and the pause after a failed one, doubling up to the max. */
  var LIVE_WAIT = '25s';
  var LIVE_BACKOFF_MS = 1000;
  var LIVE_BACKOFF_MAX_MS = 60000;

  var who = null;

  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function th(text, cls) { return el('th', { scope: 'col', class: cls || null, text: text }); }

  function td(label, content, cls) {
    var c = el('td', { 'data-label': label, class: cls || null });
    (Array.isArray(content) ? content : [content]).forEach(function (x) {
      if (x === null || x === undefined) return;
      c.appendChild(typeof x === 'string' ? document.createTextNode(x) : x);
    });
    return c;
  }

  function table(caption, heads, rows, stack) {
    return el('div', { class: 'table-wrap' }, [el('table', { class: stack ? 'stack' : null }, [
      el('caption', { class: caption.hidden ? 'sr-only' : null, text: caption.text }),
      el('thead', {}, [el('tr', {}, heads)]),
      el('tbody', {}, rows)
    ])]);
  }

  function section(id, title, body) {
    return el('section', { class: 'card', id: id, 'aria-labelledby': id + '-h' },
              [el('h2', { id: id + '-h', text: title })].concat(body));
  }

  /* Hides the rows after the first n behind a "Show all" button (null when
   * there are no more than n). */
  function showMore(rows, n) {
    if (rows.length <= n) return null;
    rows.slice(n).forEach(function (r) { r.hidden = true; });
    var more = el('button', { type: 'button', class: 'secondary', text: 'Show all ' + rows.length });
    more.addEventListener('click', function () {
      rows.forEach(function (r) { r.hidden = false; });
      more.parentNode.remove();
      rows[n].querySelector('a, td').focus();
    });
    return el('p', {}, [more]);
  }

  function partnerLink(id) {
    return el('a', { href: 'partner?partner=' + encodeURIComponent(id), text: id });
  }

  /* ---- distribution ---------------------------------------------------- */

  function chart(ls, idx) {
    var tiers = ls.tiers || [];
    var total = tiers.reduce(function (s, t) { return s + (T.num(t.count) || 0); }, 0);
    var max = tiers.reduce(function (m, t) { return Math.max(m, T.num(t.count) || 0); }, 0) || 1;
    var rowH = 28, labelW = 150, barW = 170, w = labelW + barW + 90;
    var h = tiers.length * rowH + 6;
    var titleId = 'chart-' + idx + '-t';
    var s = svg('svg', { viewBox: '0 0 ' + w + ' ' + h, role: 'img', 'aria-labelledby': titleId,
                         class: 'dist', 'data-ladder': ls.ladder });
    s.appendChild(svg('title', { id: titleId }, ls.ladder + ': ' + tiers.map(function (t) {
      return t.tier + ' ' + (T.num(t.count) || 0);
    }).join(', ')));
    tiers.forEach(function (t, i) {
      var n = T.num(t.count) || 0, y = i * rowH + 4;
      var len = Math.max(n ? 2 : 0, Math.round(barW * n / max));
      s.appendChild(svg('text', { x: labelW - 8, y: y + 17, 'text-anchor': 'end' }, t.tier));
      var bar = svg('rect', { x: labelW, y: y + 3, width: len, height: rowH - 8, rx: 3,
                              class: 'bar' + (t.tier === 'unranked' ? ' unranked' : ''),
                              'data-tier': t.tier, 'data-count': n });
      bar.appendChild(svg('title', {}, t.tier + ': ' + n));
      s.appendChild(bar);
      s.appendChild(svg('text', { x: labelW + len + 6, y: y + 17, class: 'count' },
                        n + (total ? ' (' + Math.round(100 * n / total) + '%)' : '')));
    });
    return s;
  }

  function distribution(stats) {
    var cards = (stats.ladders || []).map(function (ls, i) {
      var rows = (ls.tiers || []).map(function (t) {
        return el('tr', {}, [el('th', { scope: 'row', text: t.tier }),
                             td('Partners', T.fmtNum(t.count || 0), 'num')]);
      });
      return el('figure', { class: 'card chart', 'data-ladder': ls.ladder }, [
        el('figcaption', {}, [el('h3', { text: ls.ladder })]),
        chart(ls, i),
        el('details', {}, [el('summary', { text: 'Numbers for ' + ls.ladder }),
          table({ text: 'Partners per tier on ' + ls.ladder, hidden: true },
                [th('Tier'), th('Partners', 'num')], rows)])
      ]);
    });
    return section('distribution', 'Tier distribution', [
      el('p', { class: 'muted', text: T.fmtNum(stats.partners || 0) + ' partners, ' +
                                      T.fmtNum(stats.events || 0) + ' events.' }),
      el('div', { class: 'grid charts' }, cards)
    ]);
  }

  /* ---- approvals ------------------------------------------------------- */

  function moveWords(p) {
    var demotion = p.direction === 'DIRECTION_DEMOTION';
    return (demotion ? 'demotion ' : 'promotion ') + T.tierName(p.from_tier) + ' → ' +
           T.tierName(p.to_tier);
  }

  async function decide(btn, action, p, reload) {
    var reason = document.getElementById('decision-reason');
    var row = btn.closest('tr');
    row.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    T.status((action === 'approve' ? 'Approving ' : 'Denying ') + p.partner + '…');
    try {
      var st = await T.api('pending/' + encodeURIComponent(p.partner) + '/' + action, {
        method: 'POST', body: { ladder: p.ladder, reason: reason ? reason.value.trim() : '' } });
      T.showError(null);
      var msg = action === 'approve'
        ? 'Approved: ' + p.partner + ' now holds ' + T.tierName(st.tier) + ' on ' + p.ladder + '.'
        : 'Denied: ' + p.partner + ' stays ' + T.tierName(st.tier) + ' on ' + p.ladder + '.';
      await reload();
      T.status(msg);
      var done = document.getElementById('decision-done');
      if (done) done.textContent = msg;
    } catch (e) {
      row.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
      T.status('');
      T.showError(describeDecision(e, p));
    }
  }

  function describeDecision(e, p) {
    return 'Could not decide ' + p.partner + ' on ' + p.ladder + '. ' + T.describe(e);
  }

  function pending(list, reload) {
    var admin = who.role === 'admin';
    var items = list.pending || [];
    var heads = [th('Partner'), th('Ladder'), th('Move'), th('Waiting since'), th('Goes through')];
    if (admin) heads.push(th('Decision'));
    var rows = items.map(function (p) {
      var cells = [
        td('Partner', partnerLink(p.partner)), td('Ladder', p.ladder), td('Move', moveWords(p)),
        td('Waiting since', T.time(p.since)),
        td('Goes through', p.deadline ? T.time(p.deadline) : 'only when approved')
      ];
      if (admin) {
        var what = moveWords(p) + ' of ' + p.partner + ' on ' + p.ladder;
        var ok = el('button', { type: 'button', 'data-action': 'approve', 'data-partner': p.partner,
                                'data-ladder': p.ladder, 'aria-label': 'Approve ' + what,
                                text: 'Approve' });
        var no = el('button', { type: 'button', class: 'danger', 'data-action': 'deny',
                                'data-partner': p.partner, 'data-ladder': p.ladder,
                                'aria-label': 'Deny ' + what, text: 'Deny' });
        ok.addEventListener('click', function () { decide(ok, 'approve', p, reload); });
        no.addEventListener('click', function () { decide(no, 'deny', p, reload); });
        cells.push(td('Decision', el('div', { class: 'actions' }, [ok, no])));
      }
      return el('tr', { 'data-partner': p.partner, 'data-ladder': p.ladder }, cells);
    });
    var body = [];
    body.push(el('p', { class: 'muted', text: items.length
      ? items.length + ' waiting: promotions into tiers that need approval, and demotions under review.'
      : 'Nothing waits for a decision.' }));
    if (admin && items.length) {
      body.push(el('label', { for: 'decision-reason', text: 'Reason (recorded with each decision)' }));
      body.push(el('input', { id: 'decision-reason', type: 'text', autocomplete: 'off',
                              placeholder: 'optional' }));
    } else if (items.length) {
      body.push(el('p', { class: 'note', text: 'Approving and denying need an admin token.' }));
    }
    body.push(el('p', { id: 'decision-done', class: 'ok-msg', 'aria-live': 'polite' }));
    if (items.length)
      body.push(table({ text: 'Decisions waiting', hidden: true }, heads, rows, true));
    body.push(showMore(rows, PENDING_SHOWN));
    return section('pending', 'Waiting for a decision', body);
  }

  /* ---- at risk --------------------------------------------------------- */

  /* The partners tierd lists at risk within AT_RISK_DAYS of its clock (a
   * few pages at most), then one row per tier at risk before the same
   * instant, soonest first. */
  async function atRisk(now) {
    var listed = [], after = '', complete = false;
    for (var page = 0; page < AT_RISK_PAGES; page++) {
      var r = await T.api('partners?at_risk_within=' + AT_RISK_DAYS + 'd&limit=' + AT_RISK_PAGE +
                          (after ? '&after=' + encodeURIComponent(after) : ''));
      listed = listed.concat(r.partners || []);
      after = r.next || '';
      if (!after) { complete = true; break; }
    }
    var horizon = new Date(now).getTime() + AT_RISK_DAYS * 86400000;
    function ms(t) { return t ? new Date(t).getTime() : null; }
    var rows = [];
    listed.forEach(function (info) {
      (info.tiers || []).forEach(function (s) {
        var lapse = ms(s.lapses_at), fall = ms(s.demotion_at);
        if (!((lapse !== null && lapse < horizon) || (fall !== null && fall < horizon))) return;
        rows.push({ id: info.partner.id, name: info.partner.name, s: s,
                    key: lapse !== null ? lapse : fall });
      });
    });
    rows.sort(function (a, b) { return a.key - b.key || (a.id < b.id ? -1 : 1); });
    return { rows: rows, partners: listed.length, complete: complete };
  }

  function atRiskSection(r) {
    var shown = r.rows.slice(0, AT_RISK_SHOWN);
    var rows = shown.map(function (x) {
      return el('tr', { 'data-partner': x.id, 'data-ladder': x.s.ladder }, [
        td('Partner', [partnerLink(x.id), x.name ? el('span', { class: 'muted', text: ' ' + x.name }) : null]),
        td('Ladder', x.s.ladder), td('Tier', x.s.tier),
        td('Criteria lapse', x.s.lapses_at ? T.time(x.s.lapses_at) : '–'),
        td('Falls to', x.s.demotion_at ? T.tierName(x.s.demotion_tier) : '–'),
        td('On', x.s.demotion_at ? T.time(x.s.demotion_at) : '–')
      ]);
    });
    var note = 'Tiers whose criteria lapse, or that fall, within ' + AT_RISK_DAYS +
               ' days (or have lapsed already, grace running) unless new activity arrives: ' +
               r.rows.length + ' tier' + (r.rows.length === 1 ? '' : 's') + ' of ' + r.partners +
               ' partner' + (r.partners === 1 ? '' : 's') +
               (r.complete ? '' : ' (the first ' + r.partners + ' tierd listed)') +
               (r.rows.length > shown.length ? ', the first ' + shown.length + ' shown' : '') + '.';
    return section('at-risk', 'Partners at risk', [
      el('p', { class: 'muted', text: note }),
      rows.length ? table({ text: 'Partners at risk, soonest first', hidden: true },
                          [th('Partner'), th('Ladder'), th('Tier'), th('Criteria lapse'),
                           th('Falls to'), th('On')], rows, true)
                  : el('p', { text: 'No partner is at risk.' }),
      showMore(rows, AT_RISK_FOLDED)
    ]);
  }

  /* ---- changes and KPIs ------------------------------------------------ */

  function changeWords(c) {
    if (c.cause === 'DENIAL' || c.cause === 'WITHDRAWN')
      return (c.dropped_demotion ? 'demotion to ' : 'move to ') + T.tierName(c.promotion_tier) +
             (c.cause === 'DENIAL' ? ' denied' : ' withdrawn');
    return T.tierName(c.from_tier) + ' → ' + T.tierName(c.to_tier);
  }

  /* Live updates' state, said under Recent changes. */
  var liveText = '';

  function setLiveText(text) {
    liveText = text;
    var n = document.getElementById('live-note');
    if (n) n.textContent = text;
  }

  /* list: the recent changes, oldest first; fresh: the sequences that came
   * live (marked until the next render). */
  function changes(list, fresh) {
    var rows = list.slice().reverse().map(function (c) {
      var isNew = !!fresh[T.num(c.sequence)];
      return el('tr', { 'data-sequence': c.sequence, 'data-partner': c.partner,
                        'data-cause': c.cause, class: isNew ? 'fresh' : null }, [
        td('When', T.time(c.at, true)), td('Partner', partnerLink(c.partner)),
        td('Ladder', c.ladder), td('Change', changeWords(c)), td('Cause', T.words(c.cause)),
        td('By', c.actor || '')
      ]);
    });
    return section('changes', 'Recent changes', [
      el('p', { id: 'live-note', class: 'muted', text: liveText }),
      rows.length ? table({ text: 'The latest tier changes, newest first', hidden: true },
                          [th('When'), th('Partner'), th('Ladder'), th('Change'), th('Cause'), th('By')],
                          rows, true)
                  : el('p', { class: 'muted', text: 'No tier changes yet.' }),
      showMore(rows, CHANGES_FOLDED)
    ]);
  }

  function kpis(resp) {
    var latest = {};
    (resp.rows || []).forEach(function (r) { if (!r.value) latest[r.ladder] = r; });
    var ladders = Object.keys(latest);
    if (!ladders.length)
      return section('kpis', 'KPIs', [el('p', { class: 'muted',
        text: 'No KPI history yet (the program has no kpi period, or no period has ended).' })]);
    var cards = ladders.map(function (l) {
      var r = latest[l];
      function item(name, value) {
        return el('div', {}, [el('dt', { text: name }), el('dd', { text: value })]);
      }
      return el('div', { class: 'card kpis-card', 'data-ladder': l }, [
        el('h3', { text: l }),
        el('p', { class: 'muted', text: 'Period ' + T.fmtDate(r.period_start) + ' to ' + T.fmtDate(r.period_end) }),
        el('dl', { class: 'kpis' }, [
          item('Partners', T.fmtNum(r.partners || 0)),
          item('Progression', T.pct(r.progression_rate || 0)),
          item('Moves up / down', (r.promoted || 0) + ' / ' + (r.demoted || 0)),
          item('Top-tier share', T.pct(r.top_share || 0)),
          item('Retention', r.has_retention ? T.pct(r.retention) : '–'),
          item('Near misses', T.fmtNum(r.near_miss || 0)),
          item('Median days to next tier', r.next_tier_moves ? (T.num(r.median_days_to_next_tier) || 0).toFixed(1) : '–')
        ])
      ]);
    });
    return section('kpis', 'KPIs (latest period)', [
      el('p', { class: 'muted', text: 'Period: ' + (resp.period || '?') + ', from the snapshots tierd keeps.' }),
      el('div', { class: 'grid charts' }, cards)
    ]);
  }

  /* ---- page ------------------------------------------------------------ */

  async function show(w) {
    who = w;
    var root = T.clear(document.getElementById('dashboard'));
    if (w.role === 'partner') {
      root.dataset.state = 'forbidden';
      root.appendChild(el('section', { class: 'card' }, [
        el('h2', { text: 'Not for partner tokens' }),
        el('p', {}, ['The dashboard needs a read or admin token. ',
                     el('a', { href: 'partner', text: 'See your progress instead.' })])
      ]));
      return;
    }
    var slots = {};
    ['overview', 'distribution', 'pending', 'at-risk', 'changes', 'kpis'].forEach(function (k) {
      slots[k] = el('div', { 'data-slot': k });
      root.appendChild(slots[k]);
    });
    function fill(k, node) { T.clear(slots[k]).appendChild(node); }
    function failed(k, title, e) {
      fill(k, section(k + '-failed', title, [el('p', { class: 'error', text: T.describe(e) })]));
    }

    /* The recent changes shown, oldest first, at most CHANGES_SHOWN. */
    var recent = [];
    function takeChanges(list, replace) {
      if (replace) recent = [];
      var last = recent.length ? T.num(recent[recent.length - 1].sequence) : -1;
      var fresh = {};
      list.forEach(function (c) {
        var q = T.num(c.sequence);
        if (q === null || q <= last) return;
        recent.push(c);
        last = q;
        if (!replace) fresh[q] = true;
      });
      recent = recent.slice(-CHANGES_SHOWN);
      fill('changes', changes(recent, fresh));
    }

    /* The distribution again, keeping open what the reader opened. */
    function refreshStats() {
      var open = {};
      slots.distribution.querySelectorAll('figure[data-ladder] details[open]').forEach(function (d) {
        open[d.closest('figure').dataset.ladder] = true;
      });
      return T.api('stats').then(function (s) {
        fill('distribution', distribution(s));
        slots.distribution.querySelectorAll('figure[data-ladder]').forEach(function (f) {
          if (open[f.dataset.ladder]) f.querySelector('details').open = true;
        });
      }, function (e) { failed('distribution', 'Tier distribution', e); });
    }

    async function reload() {
      var st = await T.api('status');
      fill('overview', el('p', { class: 'meta' }, [
        'Program ', el('strong', { text: st.program || 'none loaded' }),
        st.program_version ? ' version ' + st.program_version : '',
        ' · ', T.fmtNum(st.partners || 0), ' partners · ',
        T.fmtNum(st.pending || 0), ' waiting · clock ', T.time(st.now, true),
        st.fake_clock ? ' (fake)' : ''
      ]));
      var last = T.num(st.last_sequence) || 0;
      var since = Math.max(0, last - CHANGES_SHOWN);
      await Promise.all([
        refreshStats(),
        T.api('pending').then(function (p) { fill('pending', pending(p, reload)); },
                              function (e) { failed('pending', 'Waiting for a decision', e); }),
        T.api('changes?since=' + since + '&limit=' + CHANGES_SHOWN).then(
          function (c) { takeChanges(c.changes || [], true); },
          function (e) { failed('changes', 'Recent changes', e); })
      ]);
      return st;
    }

    /* Long-polls /v1/changes from sequence `since` while the page is
     * visible: new changes go to the top of Recent changes and the
     * distribution is read again. A hidden page lets its poll go and
     * starts again when shown; a failed poll is tried again after a pause
     * that doubles up to a minute. */
    function startLive(since) {
      var running = false, ctl = null, backoff = 0;
      var ON = 'Live: changes appear here as tierd makes them.';
      function state(s, text) { root.dataset.live = s; setLiveText(text); }
      async function loop() {
        if (running || document.hidden) return;
        running = true;
        state('on', ON);
        while (!document.hidden) {
          ctl = new AbortController();
          try {
            var c = await T.api('changes?since=' + since + '&limit=' + CHANGES_SHOWN + '&wait=' +
                                LIVE_WAIT, { signal: ctl.signal });
            backoff = 0;
            if (root.dataset.live !== 'on') state('on', ON);
            var list = c.changes || [];
            if (!list.length) continue;
            since = T.num(list[list.length - 1].sequence);
            /* a burst (a clock jump, an import): only the newest are shown */
            var newest = T.num(c.last_sequence);
            if (newest !== null && newest - CHANGES_SHOWN > since) since = newest - CHANGES_SHOWN;
            takeChanges(list, false);
            refreshStats();
          } catch (e) {
            if (e.code === 'CANCELLED' || e.name === 'AbortError') break;
            backoff = Math.min(LIVE_BACKOFF_MAX_MS, backoff ? backoff * 2 : LIVE_BACKOFF_MS);
            state('retrying', 'Live updates paused: ' + T.describe(e) + '. Trying again in ' +
                              Math.round(backoff / 1000) + ' s.');
            await T.sleep(backoff);
          }
        }
        running = false;
        ctl = null;
        if (document.hidden) state('paused', 'Live updates paused while this page is hidden.');
        else loop();
      }
      document.addEventListener('visibilitychange', function () {
        if (document.hidden) { if (ctl) ctl.abort(); } else loop();
      });
      loop();
    }

    function loadSlow(now) {
      T.api('kpi').then(function (k) { fill('kpis', kpis(k)); },
                        function (e) { failed('kpis', 'KPIs', e); });
      fill('at-risk', section('at-risk', 'Partners at risk',
                              [el('p', { class: 'muted', text: 'Asking tierd…' })]));
      return atRisk(now).then(function (r) { fill('at-risk', atRiskSection(r)); },
                              function (e) { failed('at-risk', 'Partners at risk', e); });
    }

    var st = await reload();
    root.dataset.state = 'ready';
    var again = el('button', { type: 'button', class: 'secondary', id: 'refresh', text: 'Refresh' });
    again.addEventListener('click', async function () {
      again.disabled = true;
      T.status('Refreshing…');
      try {
        var now = await reload();
        await loadSlow(now.now);
        T.showError(null);
        T.status('Refreshed.');
      } catch (e) {
        T.showError(T.describe(e));
        T.status('');
      }
      again.disabled = false;
    });
    root.insertBefore(el('p', { class: 'refresh' }, [again]), root.firstChild);
    loadSlow(st.now);
    startLive(T.num(st.last_sequence) || 0);
  }

  document.addEventListener('DOMContentLoaded', function () { T.boot(show); });
})();
