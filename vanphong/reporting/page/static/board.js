// The task follow-up board (vanphong serve, /board). The URL holds the whole selection (year |
// term | from+to, lang): the page reads it, asks /api/board, and draws each table the server
// sends (titles, headers and rows come from there, in the page's language). A source document's
// row shows its tasks (/api/board/document).
'use strict';

const TEXT = {
  vi: {
    title: 'Theo dõi nhiệm vụ',
    period: 'Kỳ đánh giá (theo hạn hoàn thành)', year: 'Năm', term: 'Nhiệm kỳ',
    range: 'Từ ngày – đến ngày', show: 'Xem',
    note: 'Đang thực hiện, đến hạn trong 7 ngày, quá hạn: tình trạng hôm nay. Đúng hạn, trễ hạn'
      + ' và tỷ lệ đúng hạn: các nhiệm vụ có hạn trong kỳ (quá hạn chưa hoàn thành tính là không'
      + ' đúng hạn). Bấm vào một văn bản để xem các nhiệm vụ của văn bản đó.',
    heading: (a, b, t) => `Kỳ ${a} – ${b} · hôm nay ${t}`, updated: (t) => `cập nhật lúc ${t}`,
    document_heading: (d) => `Nhiệm vụ theo văn bản ${d}`, no_document: '(không ghi văn bản)',
    document_csv: 'Tải CSV', downloads: 'Tải về', xlsx: 'Sổ tính Excel (XLSX), mỗi bảng một trang',
    csv: 'Tệp CSV:', json: 'Dữ liệu JSON', empty: 'Không có nhiệm vụ nào.',
    footer: 'Số liệu đọc từ lược đồ reporting (vai trò vanphong_reporting), chỉ đọc.',
    failed: 'Không tải được bảng theo dõi', loading: 'Đang tải…',
  },
  en: {
    title: 'Task follow-up',
    period: 'Period (by due date)', year: 'Year', term: 'Term', range: 'From – to', show: 'Show',
    note: 'Open, due within 7 days, overdue: as of today. Done on time, done late and the'
      + ' on-time rate: the tasks due in the period (overdue and not done counts as not on'
      + ' time). Click a source document to see its tasks.',
    heading: (a, b, t) => `Period ${a} – ${b} · today ${t}`, updated: (t) => `updated at ${t}`,
    document_heading: (d) => `Tasks of ${d}`, no_document: '(no source document)',
    document_csv: 'Download CSV', downloads: 'Downloads', xlsx: 'Excel workbook (XLSX), one sheet per table',
    csv: 'CSV files:', json: 'JSON data', empty: 'No tasks.',
    footer: 'Figures read from the reporting schema (role vanphong_reporting), read-only.',
    failed: 'The board could not be loaded', loading: 'Loading…',
  },
};

const params = new URLSearchParams(location.search);
const lang = params.get('lang') === 'en' ? 'en' : 'vi';
const T = TEXT[lang];
const $ = (id) => document.getElementById(id);
const LATE = new Set(['overdue', 'most_days_overdue', 'days_overdue', 'days_late']);

function number(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, lang === 'vi' ? '.' : ',');
}
function day(iso) { const [y, m, d] = iso.split('-'); return `${d}/${m}/${y}`; }
function show(value, kind) {
  if (value === null || value === undefined) return '';
  if (kind === 'date') return day(value);
  if (kind === 'int') return number(value);
  return String(value);
}

function selection() {
  const out = new URLSearchParams();
  for (const key of ['year', 'term', 'from', 'to']) if (params.get(key)) out.set(key, params.get(key));
  out.set('lang', lang);
  return out;
}
function url(path, extra) {
  const q = selection();
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return `${path}?${q}`;
}

function message(text, error) {
  const box = $('message');
  box.textContent = text;
  box.className = error ? 'error' : '';
  box.hidden = !text;
}

// One table of the server's: {key, title, columns: [{key, header, kind}], rows}.
function drawTable(table, onRow) {
  const el = document.createElement('table');
  el.id = `table-${table.key}`;
  const head = el.createTHead().insertRow();
  for (const c of table.columns) {
    const th = document.createElement('th');
    th.textContent = c.header;
    if (c.kind === 'int') th.className = 'num';
    head.appendChild(th);
  }
  const body = el.createTBody();
  for (const row of table.rows) {
    const tr = body.insertRow();
    row.forEach((value, i) => {
      const c = table.columns[i];
      const td = tr.insertCell();
      td.textContent = show(value, c.kind);
      const classes = [];
      if (c.kind === 'int') classes.push('num');
      if (LATE.has(c.key) && value) classes.push('late');
      td.className = classes.join(' ');
    });
    if (onRow) { tr.className = 'pick'; tr.addEventListener('click', () => onRow(row)); }
  }
  if (!table.rows.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = table.columns.length;
    td.className = 'note';
    td.textContent = T.empty;
  }
  return el;
}

async function getJson(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

async function showDocument(document_, scroll = true) {
  const extra = document_ === null ? { without_document: '1' } : { document: document_ };
  try {
    const table = await getJson(url('/api/board/document', extra));
    $('document-heading').textContent = T.document_heading(document_ === null ? T.no_document : document_);
    $('document-table').replaceChildren(drawTable(table));
    $('document-csv').href = url('/api/board/export.csv', { table: 'document_tasks', ...extra });
    $('document').hidden = false;
    openDocument = document_;
    if (scroll) $('document').scrollIntoView({ behavior: 'smooth' });
  } catch (err) {
    message(`${T.failed}: ${err.message}`, true);
  }
}

function fillForm() {
  for (const el of document.querySelectorAll('[data-i18n]')) {
    const text = T[el.dataset.i18n];
    if (typeof text === 'string') el.textContent = text;
  }
  document.documentElement.lang = lang;
  for (const a of document.querySelectorAll('#langs a')) {
    const q = new URLSearchParams(location.search);
    q.set('lang', a.dataset.lang);
    a.href = `?${q}`;
    if (a.dataset.lang === lang) a.className = 'current';
  }
  const mode = params.get('term') ? 'term' : params.get('from') ? 'range' : 'year';
  document.querySelector(`input[name=mode][value=${mode}]`).checked = true;
  for (const key of ['year', 'term', 'from', 'to']) $(key).value = params.get(key) || '';
  $('choose').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ lang });
    const chosen = document.querySelector('input[name=mode]:checked').value;
    if (chosen === 'year' && $('year').value) q.set('year', $('year').value.trim());
    if (chosen === 'term' && $('term').value) q.set('term', $('term').value.trim());
    if (chosen === 'range') { q.set('from', $('from').value); q.set('to', $('to').value); }
    location.search = `?${q}`;
  });
}

// The board is read again every REFRESH_S seconds (and when the tab comes back into view), so a
// task that becomes overdue at midnight, or a late completion that arrives, shows without a
// reload; the document opened stays open. ?refresh=S changes the interval (the tests use 1).
const REFRESH_S = Math.max(1, Number(params.get('refresh')) || 30);
let openDocument;  // undefined: none; null: the tasks without a source document

function time() {
  return new Date().toLocaleTimeString(lang === 'vi' ? 'vi-VN' : 'en-GB', { hour12: false });
}

async function refresh() {
  try {
    const board = await getJson(url('/api/board'));
    message('', false);
    $('heading').textContent = T.heading(day(board.from), day(board.to), day(board.today));
    $('updated').textContent = T.updated(time());
    const sections = board.tables.map((table) => {
      const section = document.createElement('section');
      const h3 = document.createElement('h3');
      h3.textContent = table.title;
      section.append(h3, drawTable(table, table.key === 'documents'
        ? (row) => showDocument(row[0] === T.no_document ? null : row[0]) : null));
      return section;
    });
    $('tables').replaceChildren(...sections);
    $('download-xlsx').href = url('/api/board/export.xlsx');
    $('download-json').href = url('/api/board');
    $('download-csv').replaceChildren(...board.tables.flatMap((table, i) => {
      const a = document.createElement('a');
      a.href = url('/api/board/export.csv', { table: table.key });
      a.textContent = table.title;
      return i ? [document.createTextNode(' · '), a] : [a];
    }));
    if (openDocument !== undefined) await showDocument(openDocument, false);
    $('board').hidden = false;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    document.body.dataset.state = 'ready';
  } catch (err) {
    message(`${T.failed}: ${err.message}`, true);
    if (document.body.dataset.state !== 'ready') document.body.dataset.state = 'error';
  }
}

async function load() {
  fillForm();
  message(T.loading, false);
  await refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_S * 1000);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
}

load();
