// Portal behaviour, loaded as a file (the CSP allows no inline script): local times,
// confirmations, copy buttons, auto-submitting filters, role-dependent form fields,
// clickable table rows. Every page works without it.
(() => {
  // yyyy-mm-dd hh:mm:ss in the browser's time zone: sortable, unambiguous in every locale.
  const pad = (n) => String(n).padStart(2, '0');
  const local = (d) =>
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const localTimes = () => {
    for (const el of document.querySelectorAll('time[datetime]')) {
      const date = new Date(el.getAttribute('datetime'));
      if (Number.isNaN(date.getTime())) continue;
      el.title = `${date.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
      el.textContent = local(date);
    }
  };
  localTimes();
  // The date filters are days in the reader's zone, as the times shown are: the form sends
  // the browser's IANA zone (kept as it is while a filter made in another one is in force).
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const input of document.querySelectorAll('input[name="tz"][data-browser-zone]')) {
    if (!zone) continue;
    input.value = zone;
    const name = input.form?.querySelector('[data-zone-name]');
    if (name) name.textContent = zone;
  }
  // A live page (live.js) replaced its content: the new times are UTC again.
  document.addEventListener('mb:content-replaced', localTimes);

  document.addEventListener('submit', (event) => {
    const form = event.target;
    const question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // A one-time download: the page stays, so say what happened and stop a second click.
    if (form.hasAttribute('data-once')) {
      const button = form.querySelector('button');
      window.setTimeout(() => {
        button.disabled = true;
        button.textContent = 'Downloaded';
      }, 0);
    }
  });

  for (const button of document.querySelectorAll('[data-copy]')) {
    button.addEventListener('click', () => {
      const field = document.querySelector(button.getAttribute('data-copy'));
      field.select();
      navigator.clipboard?.writeText(field.value).then(
        () => (button.textContent = 'Copied'),
        () => undefined,
      );
    });
  }

  // Delegated (here and for rows below): a live page (live.js) replaces its content.
  document.addEventListener('change', (event) => {
    const form = event.target.closest?.('form[data-autosubmit]');
    if (form) form.submit();
  });

  const role = document.querySelector('[data-role-select]');
  if (role) {
    const sync = () => {
      for (const el of document.querySelectorAll('[data-show-for-role]'))
        el.hidden = el.getAttribute('data-show-for-role') !== role.value;
      for (const el of document.querySelectorAll('[data-hide-for-role]'))
        el.hidden = el.getAttribute('data-hide-for-role') === role.value;
    };
    role.addEventListener('change', sync);
    sync();
  }

  const client = document.querySelector('select#client');
  const newClient = document.querySelector('[data-new-client]');
  if (client && newClient) {
    const sync = () => (newClient.hidden = client.value !== '');
    client.addEventListener('change', sync);
    sync();
  }

  document.addEventListener('click', (event) => {
    const row = event.target.closest?.('tr[data-href]');
    if (!row) return;
    if (event.target.closest('a, button, input, select, form')) return;
    if (window.getSelection()?.toString()) return; // selecting text is not a click
    window.location.href = row.getAttribute('data-href');
  });
})();
