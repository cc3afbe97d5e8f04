// The reporting page's tabs (index.html: the activity report; board.html: the task follow-up
// board): their labels in the page's language, and links that keep it.
'use strict';

(() => {
  const TABS = {
    vi: { report: 'Báo cáo hoạt động', board: 'Theo dõi nhiệm vụ' },
    en: { report: 'Activity report', board: 'Task follow-up' },
  };
  const lang = new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'vi';
  for (const [key, path] of [['report', '/'], ['board', '/board']]) {
    const a = document.getElementById(`tab-${key}`);
    if (!a) continue;
    a.textContent = TABS[lang][key];
    a.href = `${path}?lang=${lang}`;
  }
})();
