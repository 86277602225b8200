// Live pages (overview, message list): a WebSocket to /portal/live says that something
// changed; the page then fetches itself again and swaps its <main>, so new messages and
// deliveries show without a reload. Loaded as a file (the CSP allows no inline script).
// A lost socket is said so above the page, and reconnected with a growing pause.
(() => {
  const main = document.querySelector('main');
  if (!main) return;
  const banner = document.createElement('div');
  banner.className = 'container-xl pt-2';
  banner.setAttribute('role', 'status');
  banner.setAttribute('data-testid', 'live-status');
  main.parentNode.insertBefore(banner, main);
  const show = (state) => {
    banner.dataset.state = state;
    banner.innerHTML =
      state === 'live'
        ? '<span class="badge rounded-pill text-bg-success">Live</span>'
        : '<div class="alert alert-warning py-1 mb-0">Live updates lost: reconnecting…</div>';
  };

  let refreshing = false;
  let again = false;
  const refresh = async () => {
    if (refreshing) {
      again = true;
      return;
    }
    // Someone is typing in a filter: swapping the page would lose it. Later.
    const focused = document.activeElement;
    if (focused && main.contains(focused) && focused.matches('input, select, textarea')) {
      window.setTimeout(refresh, 2000);
      return;
    }
    refreshing = true;
    try {
      const response = await fetch(window.location.href, { credentials: 'same-origin' });
      // Signed out meanwhile (a redirect to the sign-in page): leave the page as it is.
      if (!response.ok || response.redirected) return;
      const next = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main');
      if (next) {
        main.innerHTML = next.innerHTML;
        document.dispatchEvent(new CustomEvent('mb:content-replaced'));
      }
    } catch {
      // The next hint tries again.
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        void refresh();
      }
    }
  };

  let pause = 1000;
  let sessionRetried = false;
  const connect = () => {
    const socket = new WebSocket(`wss://${window.location.host}/portal/live`);
    socket.addEventListener('message', (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === 'subscribed') {
        pause = 1000;
        sessionRetried = false;
        show('live');
        // What changed while the socket was away.
        if (banner.dataset.seen === 'lost') void refresh();
      } else if (frame.type === 'changed') void refresh();
    });
    socket.addEventListener('close', (event) => {
      // 4401: the socket's session check failed. Its cookie may only have aged while the
      // page's own requests renewed the session: open a new socket once, at once; if the
      // session really ended, that one is refused and the banner says so.
      if (event.code === 4401 && !sessionRetried) {
        sessionRetried = true;
        connect();
        return;
      }
      show('lost');
      banner.dataset.seen = 'lost';
      window.setTimeout(connect, pause);
      pause = Math.min(pause * 2, 15000);
    });
  };
  connect();
})();
