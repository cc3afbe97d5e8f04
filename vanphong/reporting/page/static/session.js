// Who is looking (vanphong serve with OpenID Connect): the person's name and province in the
// header with a logout link, the reason when they may see nothing, and back to the login when
// the session has expired (any answer 401 login_required). Without a login, nothing shows.
'use strict';

(() => {
  const WORDS = {
    vi: { national: 'toàn quốc', nothing: 'chưa gán tỉnh', logout: 'Đăng xuất', as: 'Đăng nhập:' },
    en: { national: 'national', nothing: 'no province', logout: 'Log out', as: 'Logged in:' },
  };
  const lang = new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'vi';
  const W = WORDS[lang];
  const toLogin = () => {
    location.href = '/auth/login?next=' + encodeURIComponent(location.pathname + location.search);
  };

  const plainFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const response = await plainFetch(...args);
    if (response.status === 401) toLogin();
    return response;
  };

  async function show() {
    const response = await plainFetch('/api/me?lang=' + lang);
    if (!response.ok) return;
    const me = await response.json();
    document.body.dataset.scope = me.scope;
    if (!me.login) return;
    const box = document.createElement('span');
    box.id = 'who';
    const where = me.scope === 'province' ? me.province : me.scope === 'national' ? W.national : W.nothing;
    box.textContent = `${W.as} ${me.name} (${where}) · `;
    box.dataset.username = me.username;
    const out = document.createElement('a');
    out.id = 'logout';
    out.href = '/auth/logout';
    out.textContent = W.logout;
    box.appendChild(out);
    document.querySelector('header').appendChild(box);
    if (me.scope === 'none') {
      const message = document.getElementById('message');
      if (message) {
        message.textContent = me.message;
        message.className = 'error';
        message.hidden = false;
      }
    }
  }
  document.addEventListener('DOMContentLoaded', show);
})();
