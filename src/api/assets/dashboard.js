// The switchboard dashboard: polls GET /api/v1/dashboard and shows what it answers. Every figure
// is the API's, only formatted here; everything from the API goes into the page as text
// (textContent, Node.append), never as markup. Pause and resume call the API.
//
// The token, when the API wants one, is typed into the page or handed over as `#token=…` in the
// URL's fragment (never sent to the server); it is kept in this tab's sessionStorage.
'use strict';

(() => {
  const API = '/api/v1';
  const EVERY_MS = 2000;
  const TOKEN_KEY = 'switchboard.api_token';

  // The job states in the order a recipient moves through them, and the bar's colour classes.
  const STATES = ['queued', 'dialing', 'in_call', 'retry_wait', 'done', 'failed', 'suppressed', 'cancelled'];
  const CAPS = {
    calls_per_minute: 'dials in the last minute',
    calls_per_hour: 'dials in the last hour',
    calls_per_day: 'dials in the last day',
    max_concurrent: 'calls in flight',
  };

  const $ = (id) => document.getElementById(id);
  const cards = new Map(); // campaign id -> { root, title, state, button, notice, body, failed }
  let timer = null;

  // ---- formatting (the only thing done to the API's numbers) ----
  const fmt = {
    int: (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','),
    usd: (n) => '$' + Number(n).toFixed(2),
    // `2026-12-01T14:05:00Z` -> `2026-12-01 14:05 UTC`
    time: (t) => (t ? t.slice(0, 10) + ' ' + t.slice(11, 16) + ' UTC' : '—'),
    pct: (r) => (100 * r).toFixed(1) + '%',
    name: (s) => s.replace(/_/g, ' '),
  };

  // An element with attributes (`k` is the figure's key, read by the browser test) and
  // children: nodes, or strings appended as text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') e.className = value;
      else if (key === 'k') e.dataset.k = value;
      else e.setAttribute(key, value);
    }
    e.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
    return e;
  }

  // A labelled figure: the value big, what it counts small.
  const figure = (key, value, label, extra) =>
    el('div', { class: 'figure' + (extra ? ' ' + extra : '') }, el('span', { class: 'value', k: key }, value), el('span', { class: 'label' }, label));

  // ---- the token ----
  function takeTokenFromFragment() {
    const m = /^#token=(.+)$/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  function askForToken(refused) {
    $('token-form').hidden = false;
    $('token-why').classList.toggle('error', refused);
    if (refused) $('token-why').textContent = 'The API refused that token. Type the daemon\'s SWITCHBOARD_API_TOKEN again.';
    setStatus('waiting for the API token', true);
    $('token').focus();
  }

  // ---- the API ----
  async function api(method, path) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    const res = await fetch(API + path, { method, headers, cache: 'no-store', credentials: 'omit' });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const e = new Error(body && body.error ? body.error.message : 'HTTP ' + res.status);
      e.status = res.status;
      throw e;
    }
    return body;
  }

  function setStatus(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('error', !!bad);
  }

  async function refresh() {
    clearTimeout(timer);
    if (document.hidden) {
      timer = setTimeout(refresh, EVERY_MS);
      return;
    }
    try {
      const d = await api('GET', '/dashboard');
      $('token-form').hidden = true;
      $('forget').hidden = !token();
      render(d);
      const at = new Date().toTimeString().slice(0, 8);
      setStatus('updated ' + at + ' · daemon clock ' + fmt.time(d.now), false);
    } catch (e) {
      if (e.status === 401) {
        askForToken(!!token());
        return; // until a token is given
      }
      setStatus('cannot read the API (' + e.message + '); trying again', true);
    }
    timer = setTimeout(refresh, EVERY_MS);
  }

  // ---- rendering ----
  function render(d) {
    $('account').hidden = false;
    $('account-caps').replaceChildren(...d.account.map((c) => capFigure('account.', c)));
    const seen = new Set();
    for (const board of d.campaigns) {
      seen.add(board.summary.id);
      fillCard(card(board.summary.id), board);
    }
    for (const [id, c] of cards) {
      if (!seen.has(id)) {
        c.root.remove();
        cards.delete(id);
      }
    }
    $('empty').hidden = d.campaigns.length > 0;
  }

  function capFigure(prefix, c) {
    const used = el('span', { class: 'value', k: prefix + 'cap.' + c.cap + '.used' }, fmt.int(c.used));
    const limit =
      c.limit === null || c.limit === undefined
        ? el('span', { class: 'of', k: prefix + 'cap.' + c.cap + '.limit' }, 'no cap')
        : el('span', { class: 'of' }, 'of ', el('span', { k: prefix + 'cap.' + c.cap + '.limit' }, fmt.int(c.limit)));
    const full = c.limit !== null && c.limit !== undefined && c.used >= c.limit;
    const meter =
      c.limit === null || c.limit === undefined
        ? null
        : el('meter', { min: '0', max: String(Math.max(c.limit, 1)), value: String(Math.min(c.used, c.limit)) });
    return el('div', { class: 'cap' + (full ? ' full' : '') }, el('div', { class: 'nums' }, used, ' ', limit), meter, el('span', { class: 'label' }, CAPS[c.cap] || fmt.name(c.cap), ' (', c.cap, ')'));
  }

  // The card of campaign `id`, made once: its button stays the same element across refreshes.
  function card(id) {
    let c = cards.get(id);
    if (c) return c;
    const title = el('span', { class: 'name', k: 'name' });
    const code = el('code', { class: 'id' }, id);
    const state = el('span', { class: 'state', k: 'state' });
    const button = el('button', { type: 'button', class: 'action', hidden: '' });
    const notice = el('p', { class: 'notice', hidden: '' });
    const body = el('div', { class: 'body' });
    const root = el('article', { class: 'campaign', 'data-campaign': id }, el('header', {}, el('h2', {}, title, ' ', code), state, button), notice, body);
    c = { root, title, state, button, notice, body, failed: null };
    button.addEventListener('click', () => act(id, c));
    cards.set(id, c);
    $('campaigns').append(root);
    return c;
  }

  async function act(id, c) {
    const action = c.button.dataset.action;
    if (!action) return;
    c.button.disabled = true;
    try {
      await api('POST', '/campaigns/' + encodeURIComponent(id) + '/' + action);
      c.failed = null;
    } catch (e) {
      c.failed = 'Could not ' + action + ' the campaign: ' + e.message;
    } finally {
      c.button.disabled = false;
    }
    refresh();
  }

  function fillCard(c, board) {
    const s = board.summary;
    const live = board.live;
    c.title.textContent = s.name;
    c.state.textContent = s.state;
    c.state.className = 'state state-' + s.state;
    const action = { running: 'pause', paused: 'resume' }[s.state];
    c.button.hidden = !action;
    c.button.dataset.action = action || '';
    c.button.textContent = action === 'pause' ? 'Pause' : 'Resume';
    // A failed pause or resume, else why the campaign is paused or not dialling.
    const notice = c.failed || (s.state === 'paused' ? s.paused_reason : s.waiting);
    c.notice.textContent = notice || '';
    c.notice.hidden = !notice;
    c.notice.classList.toggle('error', !!c.failed);
    c.body.replaceChildren(progress(s), recipients(s), outcomes(s), caps(live), zones(s), errors(s, live), spend(s, live));
  }

  // A bar of the recipients by state: its proportions are the counts, nothing else.
  function progress(s) {
    const bar = el('div', { class: 'bar', role: 'img', 'aria-label': 'recipients by state' });
    for (const st of STATES) {
      const n = s.counts[st] || 0;
      if (n === 0) continue;
      const seg = el('span', { class: 'seg seg-' + st, title: fmt.name(st) + ': ' + fmt.int(n) });
      seg.style.flexGrow = String(n);
      bar.append(seg);
    }
    return bar;
  }

  function section(title, ...children) {
    return el('section', {}, el('h3', {}, title), ...children);
  }

  // The figures of `map` (in `order`, else the map's), after any `first` ones.
  function figures(prefix, map, order, ...first) {
    const keys = order || Object.keys(map);
    return el('div', { class: 'figures' }, ...first, ...keys.map((k) => figure(prefix + k, fmt.int(map[k] || 0), fmt.name(k), (map[k] || 0) === 0 ? 'zero' : '')));
  }

  function recipients(s) {
    const states = STATES.filter((st) => st in s.counts).concat(Object.keys(s.counts).filter((st) => !STATES.includes(st)));
    return section('Recipients', figures('counts.', s.counts, states, figure('total_jobs', fmt.int(s.total_jobs), 'in all', 'total')));
  }

  function outcomes(s) {
    const rates = el('p', { class: 'sub' }, 'answered by a person ', el('span', { k: 'answer_rate' }, fmt.pct(s.answer_rate)), ' of calls · voicemail ', el('span', { k: 'voicemail_rate' }, fmt.pct(s.voicemail_rate)));
    const jobs = Object.keys(s.outcomes).length ? figures('outcomes.', s.outcomes) : el('p', { class: 'sub' }, 'no recipient has an outcome yet');
    const calls = Object.keys(s.calls).length ? figures('calls.', s.calls) : el('p', { class: 'sub' }, 'no call placed yet');
    return section('Outcomes', el('h4', {}, 'recipients by their last call'), jobs, el('h4', {}, 'calls placed'), calls, rates);
  }

  function caps(live) {
    return section('Rates and caps', el('div', { class: 'caps' }, ...live.caps.map((c) => capFigure('', c))));
  }

  function zones(s) {
    const q = s.queue;
    if (!q) {
      return section('Zones and forecast', el('p', { class: 'sub' }, s.state === 'running' ? 'nobody left to call' : 'shown while the campaign runs'));
    }
    const open = q.open_zones.length
      ? el('ul', { class: 'zones' }, ...q.open_zones.map((z) => el('li', {}, el('span', { class: 'zone' }, z.zones), el('span', { k: 'zone.open.' + z.zones }, fmt.int(z.jobs)))))
      : el('p', { class: 'sub' }, 'no zone with recipients to call is open now');
    const waiting = q.waiting_for_window.length
      ? el('ul', { class: 'zones' }, ...q.waiting_for_window.map((z) =>
          el('li', {}, el('span', { class: 'zone' }, z.zones + (z.regions ? ' (' + z.regions + ')' : '')),
            el('span', { k: 'zone.wait.' + z.zones + '/' + z.regions }, fmt.int(z.jobs)),
            el('span', { class: 'opens' }, 'opens ', el('span', { k: 'zone.next.' + z.zones + '/' + z.regions }, z.next_opening_local || 'never')))))
      : null;
    return section(
      'Zones and forecast',
      el('div', { class: 'figures' },
        figure('queue.dialable_now', fmt.int(q.dialable_now), 'dialable now'),
        figure('queue.waiting_for_retry', fmt.int(q.waiting_for_retry), 'waiting to retry'),
        figure('queue.waiting_for_start', fmt.int(q.waiting_for_start), 'waiting for the start')),
      el('p', {}, 'Held by a cap: ', el('strong', { k: 'queue.held_by_cap' }, q.held_by_cap || 'none')),
      el('p', {}, 'Forecast: everyone queued called by ', el('strong', { k: 'queue.forecast_finish' }, q.forecast_finish ? fmt.time(q.forecast_finish) : 'not within 60 days')),
      el('h4', {}, 'open now'), open,
      waiting ? el('h4', {}, 'closed now (next opening on their clock)') : null, waiting);
  }

  function errors(s, live) {
    const list = live.errors.latest.length
      ? el('ul', { class: 'errors' }, ...live.errors.latest.map((e, i) => el('li', { k: 'errors.latest.' + i }, el('time', {}, fmt.time(e.at)), ' ', e.error)))
      : el('p', { class: 'sub' }, 'none');
    return section('Errors, last 15 minutes',
      el('div', { class: 'figures' },
        figure('errors.failed_sends', fmt.int(s.recent.failed_sends), 'sends not placed', s.recent.failed_sends ? 'bad' : 'zero'),
        figure('errors.rate_limited', fmt.int(live.errors.rate_limited), '429s from Bland', live.errors.rate_limited ? 'bad' : 'zero')),
      list);
  }

  function spend(s, live) {
    const limit = live.spend.analysis_limit_usd;
    const callLimit = s.spend.limit_usd;
    return section('Spend',
      el('div', { class: 'figures' },
        figure('spend.calls_usd', fmt.usd(live.spend.calls_usd), 'calls'),
        figure('spend.spent_usd', fmt.usd(s.spend.spent_usd),
          callLimit === null || callLimit === undefined ? 'against no limit (reservations included)' : 'of the ' + fmt.usd(callLimit) + ' limit (reservations included)'),
        ...(s.spend.account_limit_usd_per_day === null || s.spend.account_limit_usd_per_day === undefined ? [] : [
          figure('spend.account_spent_usd_24h', fmt.usd(s.spend.account_spent_usd_24h),
            'all campaigns, last 24 h, of the ' + fmt.usd(s.spend.account_limit_usd_per_day) + ' daily limit')]),
        figure('spend.analysis_usd', fmt.usd(live.spend.analysis_usd), limit === null || limit === undefined ? 'AI analysis' : 'AI analysis, of ' + fmt.usd(limit))));
  }

  // ---- start ----
  takeTokenFromFragment();
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    $('token-form').hidden = true;
    refresh();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  refresh();
})();
