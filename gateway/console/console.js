// The operator console's script: asks for the admin token, polls GET /v1/admin/overview every
// second, draws the last 5 minutes of claims/s, and runs the everyday template actions. Plain
// browser JavaScript, no build step. Everything from the API reaches the page as textContent
// or an attribute value, never as markup: a template's name is data, not HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'couponConsoleAdminToken';
  const POLL_MS = 1000;
  // One sample a second for 5 minutes.
  const HISTORY = 300;
  // The SVG's viewBox units: the line runs from `top` (the largest sample) to the axis at `bottom`.
  const CHART = { width: 1000, bottom: 190, top: 20 };

  const $ = (id) => document.getElementById(id);

  /** An API answer other than 2xx (or no answer): its code and message are shown to the operator. */
  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const describe = (e) => (e instanceof ApiFailure ? `${e.code}: ${e.message}${e.status ? ` (HTTP ${e.status})` : ''}` : String(e));

  /** Calls the admin API with the token; a 401 forgets the token and brings the token form back. */
  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      const e = new ApiFailure(0, 'unauthorized', 'enter the admin token');
      showLogin(e);
      throw e;
    }
    const init = { method, headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new ApiFailure(0, 'network', `no answer from the gateway (${err && err.message})`);
    }
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    if (res.ok) return json;
    // Errors are { error, message }; a refused claim would be { status }.
    const code = json && typeof json.error === 'string' ? json.error : `http_${res.status}`;
    const e = new ApiFailure(res.status, code, json && typeof json.message === 'string' ? json.message : res.statusText || code);
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e);
    }
    throw e;
  }

  // ---- messages ----------------------------------------------------------------------------

  function say(text, isError = false) {
    const m = $('message');
    m.textContent = text;
    m.classList.toggle('error', isError);
    m.hidden = false;
  }
  const sayError = (what, e) => say(`${what} failed: ${describe(e)}`, true);

  // ---- token -------------------------------------------------------------------------------

  function showLogin(e) {
    stopPolling();
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('login').hidden = false;
    const err = $('token-error');
    err.hidden = !e;
    err.textContent = e ? describe(e) : '';
    $('token').value = '';
    $('token').focus();
  }

  async function open() {
    try {
      await api('GET', '/v1/admin/overview?limit=1');
    } catch (e) {
      if (e.status !== 401) showLogin(e);
      return;
    }
    $('login').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    startPolling();
  }

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    open();
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });

  // ---- polling -----------------------------------------------------------------------------

  let polling = false;
  let timer;

  function startPolling() {
    if (polling) return;
    polling = true;
    tick();
  }
  function stopPolling() {
    polling = false;
    clearTimeout(timer);
  }

  // A poll asked for while one runs (after an action) runs right after it: never two at once.
  let inFlight = false;
  let again = false;

  /** One poll; the next starts a second after this one started. */
  async function tick() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    clearTimeout(timer);
    const started = performance.now();
    const live = $('live');
    try {
      const o = await api('GET', '/v1/admin/overview');
      render(o);
      live.textContent = `live · ${new Date(o.at).toLocaleTimeString()}`;
      live.classList.remove('stale');
    } catch (e) {
      // A 401 brought the token form back (api) and stopped polling.
      live.textContent = e.status === 401 ? '' : `not updating: ${describe(e)}`;
      live.classList.add('stale');
    }
    await pollGrant();
    inFlight = false;
    const wait = again ? 0 : Math.max(0, POLL_MS - (performance.now() - started));
    again = false;
    if (polling) timer = setTimeout(tick, wait);
  }

  // ---- the template table ------------------------------------------------------------------

  const rows = new Map();
  let selected = null;
  const fmt = (n) => Number(n).toLocaleString('en-US');

  function cell(tr, cls) {
    const td = document.createElement('td');
    td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function makeRow(id) {
    const tr = document.createElement('tr');
    tr.dataset.id = id;
    const r = { tr, state: 'active' };
    for (const k of ['id', 'name', 'type', 'status']) r[k] = cell(tr, k);
    for (const k of ['issued', 'remaining', 'total', 'rate']) r[k] = cell(tr, `num ${k}`);
    const actions = cell(tr, 'actions');
    r.toggle = document.createElement('button');
    r.toggle.type = 'button';
    r.toggle.className = 'toggle';
    r.toggle.addEventListener('click', () => setStatus(id, r.state === 'paused' ? 'active' : 'paused', r.toggle));
    const manage = document.createElement('button');
    manage.type = 'button';
    manage.className = 'manage';
    manage.textContent = 'Top up / grant';
    manage.addEventListener('click', () => select(id));
    actions.append(r.toggle, manage);
    return r;
  }

  function render(o) {
    const tbody = $('templates').tBodies[0];
    const seen = new Set();
    o.templates.forEach((t, i) => {
      let r = rows.get(t.id);
      if (!r) rows.set(t.id, (r = makeRow(t.id)));
      // Moved only when out of place: a row moved under the pointer would lose a click.
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
      r.state = t.status;
      r.tr.classList.toggle('paused', t.status === 'paused');
      r.tr.classList.toggle('selected', t.id === selected);
      r.id.textContent = t.id;
      r.name.textContent = t.name;
      r.type.textContent = t.type;
      r.status.textContent = t.status;
      r.issued.textContent = fmt(t.issued);
      r.remaining.textContent = fmt(t.remaining);
      r.total.textContent = fmt(t.total);
      r.rate.textContent = t.claimsPerSecond.toFixed(1);
      r.toggle.textContent = t.status === 'paused' ? 'Resume' : 'Pause';
      seen.add(t.id);
    });
    for (const [id, r] of rows) {
      if (!seen.has(id)) {
        r.tr.remove();
        rows.delete(id);
      }
    }
    $('empty').hidden = o.templates.length > 0;
    $('more').hidden = o.next === null;
    $('rate-window').textContent = String(o.rateWindowSeconds);
    const now = o.templates.reduce((s, t) => s + t.claimsPerSecond, 0);
    $('rate-now').textContent = now.toFixed(1);
    history.push(Date.parse(o.at), now);
    drawChart();
  }

  // ---- the chart: a ring buffer of samples, drawn as one SVG polyline -----------------------

  const history = {
    t: new Float64Array(HISTORY),
    v: new Float64Array(HISTORY),
    start: 0,
    size: 0,
    push(t, v) {
      const i = (this.start + this.size) % HISTORY;
      this.t[i] = t;
      this.v[i] = v;
      if (this.size < HISTORY) this.size++;
      else this.start = (this.start + 1) % HISTORY;
    },
  };

  function drawChart() {
    if (history.size === 0) return;
    const last = history.t[(history.start + history.size - 1) % HISTORY];
    let max = 1;
    for (let k = 0; k < history.size; k++) max = Math.max(max, history.v[(history.start + k) % HISTORY]);
    const span = HISTORY * 1000;
    const h = CHART.bottom - CHART.top;
    const points = [];
    for (let k = 0; k < history.size; k++) {
      const i = (history.start + k) % HISTORY;
      const x = CHART.width * (1 - (last - history.t[i]) / span);
      const y = CHART.bottom - (h * history.v[i]) / max;
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
    $('chart-line').setAttribute('points', points.join(' '));
    $('chart-max').textContent = `${max.toFixed(1)} claims/s`;
  }

  // ---- actions -----------------------------------------------------------------------------

  async function setStatus(id, status, button) {
    button.disabled = true;
    try {
      const t = await api('PATCH', `/v1/admin/templates/${encodeURIComponent(id)}`, { status });
      say(`${t.id}: ${t.status} (version ${t.version})`);
      tick();
    } catch (e) {
      sayError(status === 'paused' ? 'pause' : 'resume', e);
    } finally {
      button.disabled = false;
    }
  }

  // The top-up being tried: its request id is kept until the API confirms it, so a retry of the
  // same top-up (after a 503 or a lost answer) is applied once; a new top-up gets a new id.
  let topup = null;
  const newRequestId = () => {
    const b = crypto.getRandomValues(new Uint8Array(4));
    return `console-${Date.now().toString(36)}-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
  };

  function select(id) {
    selected = id;
    topup = null;
    $('actions').hidden = false;
    $('selected').textContent = id;
    $('topup-request-id').textContent = '';
    for (const [rid, r] of rows) r.tr.classList.toggle('selected', rid === id);
  }

  $('topup-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const add = Number($('topup-add').value);
    if (!selected || !Number.isInteger(add) || add === 0) {
      say('top up: enter a whole number other than 0', true);
      return;
    }
    const key = `${selected}\n${add}`;
    if (!topup || topup.key !== key) topup = { key, id: selected, add, requestId: newRequestId() };
    $('topup-request-id').textContent = topup.requestId;
    try {
      const r = await api('POST', `/v1/admin/templates/${encodeURIComponent(topup.id)}/stock`, { add, requestId: topup.requestId });
      say(`${r.template.id}: added ${fmt(r.added)} (request ${r.requestId}${r.replayed ? ', replayed: already applied' : ''}); remaining ${fmt(r.stock.remaining)}`);
      topup = null;
      tick();
    } catch (e) {
      sayError(`top up (request ${topup.requestId}, a retry reuses it)`, e);
    }
  });

  // The grant last started here, followed until it finishes.
  let grant = null;

  $('grant-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!selected) return;
    const userIds = $('grant-users').value.split(/\s+/).filter((x) => x !== '');
    const body = { userIds };
    const rate = $('grant-rate').value.trim();
    if (rate !== '') body.ratePerSecond = Number(rate);
    try {
      const r = await api('POST', `/v1/admin/templates/${encodeURIComponent(selected)}/grants`, body);
      grant = { grantId: r.grantId, state: 'running' };
      say(`grant ${r.grantId} started: ${fmt(r.total)} users`);
      $('grant-users').value = '';
      await pollGrant();
    } catch (e) {
      sayError('start grant', e);
    }
  });

  async function pollGrant() {
    if (!grant || grant.state !== 'running') return;
    const status = $('grant-status');
    try {
      const g = await api('GET', `/v1/admin/grants/${encodeURIComponent(grant.grantId)}`);
      grant = g;
      status.textContent = `grant ${g.grantId} (${g.templateId}): ${g.state}, ${fmt(g.granted)} of ${fmt(g.total)} granted, ${fmt(g.failed)} failed`;
      status.classList.remove('error');
    } catch (e) {
      status.textContent = `grant ${grant.grantId}: ${describe(e)}`;
      status.classList.add('error');
    }
    status.hidden = false;
  }

  $('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.value.trim() === '') continue;
      body[el.name] = el.type === 'number' ? Number(el.value) : el.value.trim();
    }
    try {
      const t = await api('POST', '/v1/admin/templates', body);
      say(`created ${t.id}`);
      form.reset();
      select(t.id);
      tick();
    } catch (e) {
      sayError('create', e);
    }
  });

  // A tab that already has a token goes straight to the templates.
  if (sessionStorage.getItem(TOKEN_KEY)) open();
  else showLogin();
})();
