// Live figures (vanphong serve, /api/live): each time a committed batch changes the report,
// the server sends it again over Server-Sent Events; the page redraws its figures and charts in
// place (no reload) and says when: "cập nhật lúc hh:mm:ss". EventSource reconnects by itself;
// an ended session sends the browser to the login.
'use strict';

function followLive(query, lang, redraw) {
  const WORDS = { vi: 'cập nhật lúc', en: 'updated at' };
  let mark = document.getElementById('updated');
  if (!mark) {
    mark = document.createElement('p');
    mark.id = 'updated';
    mark.className = 'note';
    document.getElementById('heading').after(mark);
  }
  let updates = 0;
  const source = new EventSource('/api/live?' + query);
  source.addEventListener('report', (event) => {
    const message = JSON.parse(event.data);
    redraw(message.report);
    mark.textContent = `${WORDS[lang]} ${message.updated_at}`;
    document.body.dataset.updates = String(++updates);
    document.body.dataset.live = 'open';
  });
  source.addEventListener('expired', () => {
    source.close();
    location.href = '/auth/login?next=' + encodeURIComponent(location.pathname + location.search);
  });
  source.addEventListener('error', () => { document.body.dataset.live = 'reconnecting'; });
}
