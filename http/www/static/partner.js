/* The partner progress page: for one partner (a partner token's own, or
 * ?partner=ID for a read or admin token), each ladder's tier, every
 * criterion with its value, threshold and a progress bar, what the next
 * tier needs, the at-risk warning, benefits held and those of the next
 * tier, and recent history. Reads GET /v1/partners/{id}, .../explain and
 * .../history. */
'use strict';

(function () {
  var T = Tierd, el = T.el;
  var HISTORY_LIMIT = 15;
  /* An at-risk date this close (days) is shown as urgent. */
  var URGENT_DAYS = 90;
  /* Whose activity the page talks about: the partner's own (a partner
   * token) or a partner's (staff looking at it). */
  var voice = { your: 'Your', you: 'you' };

  function staff() { return voice.you !== 'you'; }

  function opWords(op) {
    return { '>=': 'at least', '>': 'more than', '<=': 'at most', '<': 'less than',
             '==': 'exactly', '!=': 'not' }[op] || op;
  }

  function benefitText(b) {
    return b.value ? b.name + ' = ' + b.value : b.name;
  }

  function benefitList(names, cls) {
    if (!names.length) return el('p', { class: 'muted', text: 'None.' });
    return el('ul', { class: 'chips ' + (cls || '') },
              names.map(function (n) { return el('li', { text: n }); }));
  }

  /* A criterion's number as the program wrote its threshold: a share
   * (0.9322) as a percentage (93.22%) when it was written with %. */
  function critNum(n, percent) {
    return percent && n !== null ? T.fmtNum(n * 100) + '%' : T.fmtNum(n);
  }

  /* One criterion (or gap) as a list item: name, value against threshold,
   * a progress bar, met or how far. Data attributes carry the raw numbers
   * (shares when data-percent is set) for tests and scripts. */
  function criterionItem(c, cls, origin) {
    var v = T.num(c.value), th = T.num(c.threshold), miss = T.num(c.missing);
    var met = !!c.met, pc = !!c.percent;
    var label = c.metric + ' ' + c.op + ' ' + critNum(th, pc);
    var detail = v === null ? 'no value yet'
                            : critNum(v, pc) + ' of ' + opWords(c.op) + ' ' + critNum(th, pc);
    var state = met ? 'met'
                    : (miss !== null && miss > 0 ? critNum(miss, pc) + (pc ? ' points' : '') + ' to go'
                                                 : 'not met');
    return el('li', { class: cls + (met ? ' met' : ' unmet'), 'data-metric': c.metric,
                      'data-op': c.op, 'data-value': v === null ? '' : v,
                      'data-threshold': th === null ? '' : th,
                      'data-missing': miss === null ? '' : miss,
                      'data-percent': pc ? 'true' : null }, [
      el('span', { class: 'crit-name' }, [
        el('code', { text: label }),
        origin ? el('span', { class: 'origin', text: ' ' + origin }) : null
      ]),
      el('span', { class: 'crit-value', text: detail }),
      T.progress(c, label),
      el('span', { class: 'crit-state ' + (met ? 'ok' : 'todo'), text: state })
    ]);
  }

  function gapOrigin(g, nextTier) {
    if (g.gate) return '(gate)';
    if (g.tier && g.tier !== nextTier) return '(from ' + g.tier + ')';
    return '';
  }

  function daysUntil(t, now) {
    var a = new Date(t).getTime(), b = now ? new Date(now).getTime() : Date.now();
    return (a - b) / 86400000;
  }

  /* The at-risk warning: when the criteria of the tier held lapse and when
   * (and to what) the lifecycle demotes, if nothing new arrives. Urgent
   * when either date is near or the criteria have lapsed already. */
  function atRiskBox(lx, state) {
    var r = lx.at_risk;
    if (!r || !(r.demotion_at || r.date)) return null;
    var when = r.demotion_at || r.date;
    var lapsed = !!r.lapses_at && daysUntil(r.lapses_at, lx.at) <= 0;
    var urgent = lapsed || daysUntil(when, lx.at) <= URGENT_DAYS ||
                 (!!r.lapses_at && daysUntil(r.lapses_at, lx.at) <= URGENT_DAYS);
    var to = T.tierName(r.tier);
    var p = [];
    if (r.lapses_at)
      p.push(el('p', {}, [voice.your + (lapsed ? ' activity fell below what ' : ' activity falls below what '),
                          el('strong', { text: lx.tier }), ' needs on ', T.time(r.lapses_at),
                          lapsed ? ': the grace period is running.'
                                 : ', as counted events leave their window.']));
    p.push(el('p', {}, ['Unless new activity arrives, ' + voice.you + ' move' + (voice.you === 'you' ? '' : 's') + ' to ', el('strong', { text: to }),
                        ' on ', T.time(when),
                        r.reason ? ' (' + T.words(r.reason, 'DUE_') + ').' : '.']));
    if (state && state.pending_deadline)
      p.push(el('p', { text: 'A person is reviewing this demotion; it goes through on ' +
                             T.fmtDate(state.pending_deadline) + ' unless denied.' }));
    return el('div', { class: 'at-risk' + (urgent ? ' urgent' : ''), role: 'note',
                       'data-demotion-at': when, 'data-lapses-at': r.lapses_at || '',
                       'data-to': to }, [
      el('h3', { text: urgent ? 'At risk: ' + lx.tier : 'Keeping ' + lx.tier })
    ].concat(p));
  }

  function findTier(lx, name) {
    return (lx.tiers || []).filter(function (t) { return t.tier === name; })[0] || null;
  }

  function ladderSection(lx, state, benefits, idx) {
    var hid = 'ladder-' + idx;
    var tier = lx.tier || '';
    var head = el('h2', { id: hid, text: lx.ladder });
    var since = lx.since ? [' since ', T.time(lx.since)] : [];
    var lines = [el('p', { class: 'tier-line' }, [
      'Tier ', el('strong', { class: 'tier', 'data-tier': tier, text: T.tierName(tier) })
    ].concat(since))];
    if (lx.override_tier)
      lines.push(el('p', { class: 'note', text: 'Set by an override' +
        (state && state.override_until ? ' until ' + T.fmtDate(state.override_until) : '') + '.' }));
    if (lx.pending)
      lines.push(el('p', { class: 'note pending', text: voice.your + ' move to ' + lx.pending +
                           ' is waiting for approval by the program team.' }));
    if ((lx.qualifying || '') !== tier && !lx.pending)
      lines.push(el('p', { class: 'note', text: voice.your + ' activity today qualifies for ' +
                           T.tierName(lx.qualifying) + '.' }));

    var risk = atRiskBox(lx, state);

    var next = lx.next && lx.next.tier ? lx.next : null;
    var nextPart;
    if (next) {
      var gaps = next.gaps || [];
      nextPart = el('section', { class: 'next', 'data-next-tier': next.tier,
                                 'aria-labelledby': hid + '-next' }, [
        el('h3', { id: hid + '-next', text: 'Next tier: ' + next.tier }),
        gaps.length ? el('p', { text: 'What ' + next.tier + ' still needs:' })
                    : el('p', { text: 'You meet everything ' + next.tier + ' asks for.' }),
        gaps.length ? el('ul', { class: 'criteria gaps' }, gaps.map(function (g) {
          return criterionItem(g, 'gap', gapOrigin(g, next.tier));
        })) : null
      ]);
    } else {
      nextPart = el('p', { class: 'top-tier', text: tier ? 'This is the top tier of the ladder.'
                                                         : 'No tier to show.' });
    }

    var held = findTier(lx, tier);
    var crits = [];
    (lx.gate || []).forEach(function (c) { crits.push(criterionItem(c, 'criterion', '(gate)')); });
    var shownFor = held ? held : (next ? findTier(lx, next.tier) : null);
    if (shownFor)
      (shownFor.criteria || []).forEach(function (c) {
        crits.push(criterionItem(c, 'criterion', c.tier && c.tier !== shownFor.tier ?
                                 '(from ' + c.tier + ')' : ''));
      });
    var critPart = el('section', { class: 'held', 'aria-labelledby': hid + '-crit' }, [
      el('h3', { id: hid + '-crit', text: held ? 'Criteria of ' + held.tier
                                               : (shownFor ? 'Criteria of ' + shownFor.tier : 'Criteria') }),
      shownFor && shownFor.when ? el('p', { class: 'when' }, ['Rule: ', el('code', { text: shownFor.when })]) : null,
      crits.length ? el('ul', { class: 'criteria' }, crits) : el('p', { class: 'muted', text: 'None.' })
    ]);

    var mine = benefits.filter(function (b) { return b.ladder === lx.ladder; }).map(benefitText);
    var nextT = next ? findTier(lx, next.tier) : null;
    var benPart = el('section', { class: 'benefits', 'aria-labelledby': hid + '-ben' }, [
      el('h3', { id: hid + '-ben', text: 'Benefits' }),
      el('h4', { text: staff() ? 'Held' : 'You hold' }), benefitList(mine, 'held'),
      nextT ? el('h4', { text: staff() ? nextT.tier + ' adds' : 'With ' + nextT.tier + ' you also get' }) : null,
      nextT ? benefitList(nextT.benefits || [], 'next') : null
    ]);

    var all = el('details', { class: 'all-tiers' }, [
      el('summary', { text: 'Every tier of ' + lx.ladder }),
      el('ol', { class: 'tier-list' }, (lx.tiers || []).map(function (t) {
        return el('li', { class: t.tier === tier ? 'current' : null }, [
          el('p', {}, [el('strong', { text: t.tier }),
                       ' — ' + (t.qualifies ? 'qualifies' : (t.holds ? 'rule holds' : 'not yet'))]),
          el('p', { class: 'when' }, [el('code', { text: t.when || '' })]),
          el('ul', { class: 'criteria compact' }, (t.criteria || []).map(function (c) {
            return criterionItem(c, 'criterion', '');
          }))
        ]);
      }))
    ]);

    return el('section', { class: 'card ladder', 'data-ladder': lx.ladder,
                           'aria-labelledby': hid },
              [head].concat(lines, [risk, nextPart, critPart, benPart, all]));
  }

  function changeWords(c) {
    var from = T.tierName(c.from_tier), to = T.tierName(c.to_tier);
    if (c.cause === 'DENIAL' || c.cause === 'WITHDRAWN')
      return (c.dropped_demotion ? 'Demotion to ' : 'Move to ') + T.tierName(c.promotion_tier) +
             (c.cause === 'DENIAL' ? ' denied' : ' withdrawn');
    return from + ' → ' + to;
  }

  function historySection(changes) {
    var rows = changes.map(function (c) {
      var note = [c.actor ? 'by ' + c.actor : '', c.reason || '',
                  c.event_id ? 'event ' + c.event_id : ''].filter(Boolean).join('; ');
      return el('tr', { 'data-sequence': c.sequence }, [
        el('td', { 'data-label': 'Date' }, [T.time(c.at)]),
        el('td', { 'data-label': 'Ladder', text: c.ladder }),
        el('td', { 'data-label': 'Change', text: changeWords(c) }),
        el('td', { 'data-label': 'Cause', text: T.words(c.cause) }),
        el('td', { 'data-label': 'Note', text: note })
      ]);
    });
    return el('section', { class: 'card history', 'aria-labelledby': 'history-h' }, [
      el('h2', { id: 'history-h', text: 'Recent history' }),
      rows.length ? el('div', { class: 'table-wrap' }, [el('table', { class: 'stack' }, [
        el('caption', { class: 'sr-only', text: 'Tier changes, newest first' }),
        el('thead', {}, [el('tr', {}, ['Date', 'Ladder', 'Change', 'Cause', 'Note'].map(function (h) {
          return el('th', { scope: 'col', text: h });
        }))]),
        el('tbody', {}, rows)
      ])]) : el('p', { class: 'muted', text: 'No tier changes yet.' })
    ]);
  }

  async function show(who) {
    var root = T.clear(document.getElementById('partner'));
    var staff = who.role !== 'partner';
    if (staff) voice = { your: 'The partner\'s', you: 'the partner' };
    document.body.classList.toggle('staff', staff);
    var params = new URLSearchParams(location.search);
    var id = params.get('partner') || who.partner;
    var pick = document.getElementById('pick');
    if (!id) {
      pick.hidden = false;
      root.dataset.state = 'pick';
      T.status('Which partner? Enter its id.');
      return;
    }
    pick.hidden = !staff;
    if (staff) pick.elements.partner.value = id;
    var enc = encodeURIComponent(id);
    var res;
    try {
      res = await Promise.all([
        T.api('partners/' + enc),
        T.api('partners/' + enc + '/explain'),
        T.api('partners/' + enc + '/history?limit=' + HISTORY_LIMIT)
      ]);
    } catch (e) {
      if (e.code === 'NOT_FOUND') {
        root.dataset.state = 'not-found';
        root.appendChild(el('section', { class: 'card not-found' }, [
          el('h2', { text: 'Partner not found' }),
          el('p', { text: 'There is no partner "' + id + '" that this token may see.' })
        ]));
      } else {
        root.dataset.state = 'error';
      }
      throw e;
    }
    var info = res[0], ex = res[1], hist = res[2];
    var p = info.partner || {};
    document.getElementById('title').textContent = (p.name || p.id || id) + ' — progress';
    document.title = (p.name || id) + ' · Partner progress · tierd';
    var states = {};
    (info.tiers || []).forEach(function (s) { states[s.ladder] = s; });
    var meta = el('p', { class: 'meta' }, [
      'Partner ', el('code', { text: p.id || id }),
      (p.types && p.types.length) ? ' · ' + p.types.join(', ') : '',
      ' · ' + T.fmtNum(info.events || 0) + ' events',
      ex.ladders && ex.ladders[0] && ex.ladders[0].at ? ' · as of ' + T.fmtDate(ex.ladders[0].at) : ''
    ]);
    root.appendChild(meta);
    var ladders = ex.ladders || [];
    if (!ladders.length)
      root.appendChild(el('p', { class: 'card', text: 'This partner is on no ladder yet.' }));
    var grid = el('div', { class: 'ladders' });
    ladders.forEach(function (lx, i) {
      grid.appendChild(ladderSection(lx, states[lx.ladder], info.benefits || [], i));
    });
    root.appendChild(grid);
    root.appendChild(historySection(hist.changes || []));
    root.dataset.state = 'ready';
    root.dataset.partner = p.id || id;
  }

  document.addEventListener('DOMContentLoaded', function () { T.boot(show); });
})();
