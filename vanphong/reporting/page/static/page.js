// The reporting page (vanphong serve). The URL holds the whole selection (unit, year | term |
// from+to, basis, lang): the page reads it, asks /api/report, and draws. Changing anything
// navigates to a new URL, so every view can be shared as a link.
'use strict';

const TEXT = {
  vi: {
    title: 'Báo cáo hoạt động', unit: 'Đơn vị', choose_unit: '— chọn đơn vị —',
    period: 'Kỳ báo cáo', year: 'Năm', term: 'Nhiệm kỳ', range: 'Từ ngày – đến ngày',
    basis: 'Cách tính', attributed: 'Theo thời điểm', consolidated: 'Hợp nhất',
    show: 'Xem báo cáo', figures: 'Số liệu', metric: 'Chỉ tiêu', change: 'So với cùng kỳ',
    now: 'Kỳ này', before: 'Cùng kỳ năm trước', preceding: 'Kỳ liền trước cùng độ dài',
    year_earlier_note: 'So sánh với cùng kỳ năm trước: cùng các ngày, một năm trước.',
    preceding_note: 'Kỳ báo cáo dài hơn một năm, nên không so với cùng kỳ năm trước (hai kỳ sẽ'
      + ' trùng nhau gần hết) mà so với khoảng thời gian cùng độ dài ngay trước kỳ báo cáo.',
    bad_day: (t) => `“${t}” không phải là ngày hợp lệ: hãy nhập ngày/tháng/năm (dd/mm/yyyy), ví dụ 30/09/2024.`,
    chart_monthly: 'Văn bản và hội nghị, cuộc họp theo tháng', chart_types: 'Văn bản theo loại',
    chart_kinds: 'Hội nghị, cuộc họp theo loại', chart_tasks: 'Nhiệm vụ: đúng hạn, trễ hạn, quá hạn',
    documents: 'Văn bản', meetings: 'Hội nghị, cuộc họp',
    months_note: 'Kỳ báo cáo không trọn tháng: văn bản theo loại và hội họp theo loại tính theo cả các tháng của kỳ.',
    tasks_note: 'Đúng hạn, trễ hạn: hoàn thành trong kỳ. Quá hạn: có hạn trong kỳ, đến nay chưa hoàn thành.',
    history: 'Lịch sử đơn vị', relation: 'Quan hệ', absorbed: 'Đơn vị được sáp nhập',
    into: 'Sáp nhập vào', effective: 'Ngày hiệu lực', legal_basis: 'Căn cứ',
    predecessor: 'Tiền thân', successor: 'Kế thừa',
    no_history: 'Đơn vị chưa qua sáp nhập nào.', downloads: 'Tải về',
    xlsx: 'Sổ tính Excel (XLSX), mỗi bảng một trang', csv: 'Tệp CSV:', json: 'Dữ liệu JSON',
    share: 'Liên kết đến báo cáo này',
    tables: { metrics: 'chỉ tiêu', monthly: 'theo tháng', documents_by_type: 'văn bản theo loại',
              meetings_by_kind: 'hội họp theo loại', tasks: 'nhiệm vụ', history: 'lịch sử đơn vị' },
    footer: 'Số liệu đọc từ lược đồ reporting (vai trò vanphong_reporting), chỉ đọc.',
    pick_unit: 'Hãy chọn một đơn vị và kỳ báo cáo.', loading: 'Đang tải…',
    failed: 'Không tải được báo cáo', year_of: 'Năm', from_to: (a, b) => `Từ ${a} đến ${b}`,
    term_of: 'Nhiệm kỳ', no_change: 'không đổi', new_value: 'mới', no_data: 'Không có số liệu trong kỳ',
  },
  en: {
    title: 'Activity report', unit: 'Unit', choose_unit: '— choose a unit —',
    period: 'Period', year: 'Year', term: 'Term', range: 'From – to',
    basis: 'Basis', attributed: 'Attributed', consolidated: 'Consolidated',
    show: 'Show report', figures: 'Figures', metric: 'Metric', change: 'Change',
    now: 'This period', before: 'A year earlier', preceding: 'The period just before, as long',
    year_earlier_note: 'Compared with a year earlier: the same days, one year before.',
    preceding_note: 'The period is longer than a year, so it is not compared with a year earlier'
      + ' (the two would mostly overlap) but with the period of the same length just before it.',
    bad_day: (t) => `“${t}” is not a date: type day/month/year (dd/mm/yyyy), e.g. 30/09/2024.`,
    chart_monthly: 'Documents and meetings by month', chart_types: 'Documents by type',
    chart_kinds: 'Meetings by kind', chart_tasks: 'Tasks: on time, late, overdue',
    documents: 'Documents', meetings: 'Meetings',
    months_note: 'The period is not whole months: documents by type and meetings by kind count the whole months it touches.',
    tasks_note: 'On time, late: completed within the period. Overdue: due within the period, not done today.',
    history: 'Unit history', relation: 'Relation', absorbed: 'Absorbed unit',
    into: 'Merged into', effective: 'Effective date', legal_basis: 'Legal basis',
    predecessor: 'Predecessor', successor: 'Successor',
    no_history: 'This unit took part in no merger.', downloads: 'Downloads',
    xlsx: 'Excel workbook (XLSX), one sheet per table', csv: 'CSV files:', json: 'JSON data',
    share: 'Link to this report',
    tables: { metrics: 'metrics', monthly: 'by month', documents_by_type: 'documents by type',
              meetings_by_kind: 'meetings by kind', tasks: 'tasks', history: 'unit history' },
    footer: 'Figures read from the reporting schema (role vanphong_reporting), read-only.',
    pick_unit: 'Choose a unit and a period.', loading: 'Loading…',
    failed: 'The report could not be loaded', year_of: 'Year', from_to: (a, b) => `${a} to ${b}`,
    term_of: 'Term', no_change: 'unchanged', new_value: 'new', no_data: 'No figures in this period',
  },
};

const params = new URLSearchParams(location.search);
const lang = params.get('lang') === 'en' ? 'en' : 'vi';
const T = TEXT[lang];
const $ = (id) => document.getElementById(id);
const charts = [];

function number(n) {
  const s = String(Math.trunc(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, lang === 'vi' ? '.' : ',');
  return (n < 0 ? '−' : '') + s;
}
function day(iso) { const [y, m, d] = iso.split('-'); return `${d}/${m}/${y}`; }
// The period's days are typed and shown dd/mm/yyyy whatever the browser's locale (an
// <input type=date> follows it: mm/dd/yyyy in an English Chromium); the URL keeps ISO dates.
// d/m/yyyy, dots or dashes, and an ISO date are read too; '' is empty, null is not a date.
function readDay(text) {
  const t = text.trim();
  if (!t) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return t;
  const m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(t);
  if (!m) return null;
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const probe = new Date(Date.UTC(y, mo - 1, d));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== d) return null;
  return `${m[3]}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
function showDay(iso) { return /^\d{4}-\d{2}-\d{2}$/.test(iso || '') ? day(iso) : (iso || ''); }
function month(iso) { const [y, m] = iso.split('-'); return `${m}/${y}`; }
function percent(now, before) {
  if (before === 0) return now === 0 ? T.no_change : T.new_value;
  const p = ((now - before) * 100) / before;
  const [whole, tenth] = Math.abs(p).toFixed(1).split('.');
  if (whole === '0' && tenth === '0') return T.no_change;
  return (p > 0 ? '+' : '−') + number(Number(whole)) + (lang === 'vi' ? ',' : '.') + tenth + '%';
}
function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function selectionQuery(extra) {
  const q = new URLSearchParams(params);
  q.set('lang', lang);
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q;
}

function translate() {
  document.documentElement.lang = lang;
  document.title = `${T.title} – vanphong`;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    const value = T[el.dataset.i18n];
    if (typeof value === 'string') el.textContent = value;
  }
  for (const a of document.querySelectorAll('#langs a')) {
    a.href = '?' + selectionQuery({ lang: a.dataset.lang }).toString();
    a.classList.toggle('current', a.dataset.lang === lang);
  }
}

function fillForm() {
  const mode = params.get('term') ? 'term' : (params.get('from') || params.get('to')) ? 'range' : 'year';
  document.querySelector(`input[name=mode][value=${mode}]`).checked = true;
  $('year').value = params.get('year') || (mode === 'year' ? String(new Date().getFullYear()) : '');
  $('term').value = params.get('term') || '';
  $('from').value = showDay(params.get('from'));
  $('to').value = showDay(params.get('to'));
  const basis = params.get('basis') === 'consolidated' ? 'consolidated' : 'attributed';
  document.querySelector(`input[name=basis][value=${basis}]`).checked = true;
  for (const id of ['year', 'term', 'from', 'to']) {
    $(id).addEventListener('focus', () => {
      const m = id === 'from' || id === 'to' ? 'range' : id;
      document.querySelector(`input[name=mode][value=${m}]`).checked = true;
    });
  }
  $('choose').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    q.set('unit', $('unit').value);
    const m = document.querySelector('input[name=mode]:checked').value;
    if (m === 'year') q.set('year', $('year').value.trim());
    if (m === 'term') q.set('term', $('term').value.trim());
    if (m === 'range') {
      for (const id of ['from', 'to']) {
        const iso = readDay($(id).value);
        $(id).setAttribute('aria-invalid', String(iso === null));
        if (iso === null) { say(T.bad_day($(id).value.trim()), true); $(id).focus(); return; }
        q.set(id, iso);
      }
    }
    q.set('basis', document.querySelector('input[name=basis]:checked').value);
    q.set('lang', lang);
    location.search = '?' + q.toString();
  });
}

function say(text, isError) {
  const box = $('message');
  box.textContent = text;
  box.className = isError ? 'error' : '';
  box.hidden = false;
}

async function loadUnits() {
  const select = $('unit');
  try {
    const response = await fetch('/api/units?lang=' + lang);
    const body = await response.json();
    if (!response.ok) { say(body.error.message, true); return; }
    $('note-attributed').textContent = body.bases.attributed;
    $('note-consolidated').textContent = body.bases.consolidated;
    for (const u of body.units) {
      const option = document.createElement('option');
      option.value = u.unit_id;
      option.textContent = `${u.name || u.unit_id} (${u.unit_id})`;
      select.appendChild(option);
    }
  } catch (e) { say(`${T.failed}: ${e}`, true); }
  select.value = params.get('unit') || '';
}

function chart(id, option, empty) {  // again on the same canvas when live figures arrive
  const el = $(id);
  const c = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: 'canvas' });
  const base = { animation: false, grid: { left: 60, right: 60, top: 40, bottom: 40, containLabel: true } };
  if (empty) {  // say so rather than draw zero-sized bars or an even pie of zeros
    option = { graphic: { type: 'text', left: 'center', top: 'middle',
                          style: { text: T.no_data, fontSize: 15, fill: '#616e7c' } } };
    el.dataset.empty = 'true';
  } else delete el.dataset.empty;
  c.setOption(Object.assign(base, option), true);
  if (!charts.includes(c)) charts.push(c);
  el.dataset.rendered = 'true';
  return c;
}

function draw(r) {
  const months = r.monthly.map((m) => month(m.month));
  chart('chart-monthly', {
    tooltip: { trigger: 'axis' },
    legend: { data: [T.documents, T.meetings] },
    xAxis: { type: 'category', data: months },
    yAxis: [{ type: 'value', name: T.documents }, { type: 'value', name: T.meetings }],
    series: [
      { name: T.documents, type: 'bar', data: r.monthly.map((m) => m.documents_issued), itemStyle: { color: '#b91c1c' } },
      { name: T.meetings, type: 'line', yAxisIndex: 1, data: r.monthly.map((m) => m.meetings_held), itemStyle: { color: '#1d4ed8' } },
    ],
  }, r.monthly.every((m) => m.documents_issued === 0 && m.meetings_held === 0));
  const types = [...r.documents_by_type].reverse();
  chart('chart-types', {
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    grid: { left: 10, right: 40, top: 10, bottom: 10, containLabel: true },
    xAxis: { type: 'value' },
    yAxis: { type: 'category', data: types.map((t) => t.label) },
    series: [{ type: 'bar', data: types.map((t) => t.documents_issued), itemStyle: { color: '#b91c1c' },
               label: { show: true, position: 'right', formatter: (p) => number(p.value) } }],
  }, types.length === 0);
  const kinds = [...r.meetings_by_kind].reverse();
  chart('chart-kinds', {
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    grid: { left: 10, right: 40, top: 10, bottom: 10, containLabel: true },
    xAxis: { type: 'value' },
    yAxis: { type: 'category', data: kinds.map((k) => k.label) },
    series: [{ type: 'bar', data: kinds.map((k) => k.meetings_held), itemStyle: { color: '#1d4ed8' },
               label: { show: true, position: 'right', formatter: (p) => number(p.value) } }],
  }, kinds.length === 0);
  const colours = { on_time: '#0b7a3e', late: '#d97706', overdue: '#b42318' };
  chart('chart-tasks', {
    tooltip: { trigger: 'item' },
    legend: { bottom: 0 },
    series: [{
      type: 'pie', radius: ['35%', '65%'],
      label: { formatter: (p) => `${p.name}: ${number(p.value)}` },
      data: Object.entries(r.tasks).map(([k, v]) => ({ name: r.task_labels[k], value: v, itemStyle: { color: colours[k] } })),
    }],
  }, Object.values(r.tasks).every((v) => v === 0));
}

function fill(r) {
  const period = r.period.kind === 'year' ? `${T.year_of} ${r.period.from.slice(0, 4)}`
    : r.period.kind === 'term' ? `${T.term_of} ${r.period.token}`
    : T.from_to(day(r.period.from), day(r.period.to));
  $('heading').textContent = `${r.unit.name || r.unit.unit_id} (${r.unit.unit_id}) — ${period} — ${T[r.basis]}`;
  $('summary').textContent = r.summary;
  $('head-now').textContent = `${T.now} (${day(r.period.from)}–${day(r.period.to)})`;
  const compared = r.comparison === 'preceding' ? T.preceding : T.before;
  $('head-before').textContent = `${compared} (${day(r.previous_period.from)}–${day(r.previous_period.to)})`;
  let note = $('comparison-note');
  if (!note) {
    note = document.createElement('p');
    note.id = 'comparison-note';
    note.className = 'note';
    $('metrics').after(note);
  }
  note.dataset.comparison = r.comparison;
  note.textContent = r.comparison === 'preceding' ? T.preceding_note : T.year_earlier_note;
  const body = document.querySelector('#metrics tbody');
  for (const [metric, value] of Object.entries(r.metrics)) {
    // a row already shown keeps its cells: live figures change their text, nothing else
    const row = body.querySelector(`tr[data-metric="${metric}"]`) || document.createElement('tr');
    const before = r.previous[metric];
    const change = 'num ' + (value > before ? 'up' : value < before ? 'down' : '');
    row.dataset.value = String(value);
    row.dataset.previous = String(before);
    if (row.dataset.metric === metric) {
      const [, now, then, diff] = row.children;
      now.textContent = number(value);
      then.textContent = number(before);
      diff.textContent = percent(value, before);
      diff.className = change;
      continue;
    }
    row.dataset.metric = metric;
    cell(row, r.labels[metric]);
    cell(row, number(value), 'num now');
    cell(row, number(before), 'num before');
    cell(row, percent(value, before), change);
    body.appendChild(row);
  }
  const history = document.querySelector('#history tbody');
  history.replaceChildren();
  for (const step of r.history) {
    const row = document.createElement('tr');
    row.dataset.relation = step.relation;
    cell(row, T[step.relation]);
    for (const [id, name] of [[step.absorbed_unit_id, step.absorbed_name], [step.into_unit_id, step.into_name]]) {
      const td = cell(row, '');
      const a = document.createElement('a');
      a.href = '?' + selectionQuery({ unit: id }).toString();
      a.textContent = `${name || id} (${id})`;
      td.appendChild(a);
    }
    cell(row, day(step.effective_date));
    cell(row, step.legal_basis.join(', '));
    history.appendChild(row);
  }
  $('history').hidden = r.history.length === 0;
  $('no-history').hidden = r.history.length !== 0;
  $('months-note').hidden = r.whole_months;
  const q = selectionQuery();
  $('download-xlsx').href = '/api/export.xlsx?' + q;
  $('download-json').href = '/api/report?' + q;
  $('share').href = location.pathname + '?' + q;
  const csv = $('download-csv');
  csv.replaceChildren();
  for (const [key, name] of Object.entries(T.tables)) {
    const a = document.createElement('a');
    a.href = '/api/export.csv?' + selectionQuery({ table: key });
    a.textContent = name;
    a.dataset.table = key;
    csv.append(a, ' ');
  }
}

async function main() {
  translate();
  fillForm();
  await loadUnits();
  if (!params.get('unit')) {
    say(T.pick_unit, false);
    document.body.dataset.state = 'idle';
    return;
  }
  say(T.loading, false);
  try {
    const response = await fetch('/api/report?' + selectionQuery());
    const body = await response.json();
    if (!response.ok) {
      say(body.error.message, true);
      document.body.dataset.state = 'error';
      document.body.dataset.error = body.error.code;
      return;
    }
    $('message').hidden = true;
    $('report').hidden = false;
    fill(body);
    draw(body);
    window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
    document.body.dataset.state = 'ready';
    if (window.followLive) followLive(selectionQuery(), lang, (r) => { fill(r); draw(r); });
  } catch (e) {
    say(`${T.failed}: ${e}`, true);
    document.body.dataset.state = 'error';
  }
}

main();
