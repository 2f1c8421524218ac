/* Live updates for Redress's pages: a progressive enhancement, no build step.
 *
 * Every page works without this script: forms post and redirect. With it:
 * - the page opens the websocket named by <body data-socket> (ws/events/ for staff with the
 *   session cookie, ws/track/<signed token>/ for a customer's tracking page), says the last
 *   event id it was rendered with (data-last-event) so nothing committed since is missed,
 *   and reconnects with backoff, saying the last id it saw;
 * - on an event that concerns the page, it fetches the page again (data-refresh-url, else
 *   the address shown) and swaps the regions marked data-live (data-live="soft": only while
 *   the person is not typing in it);
 * - the board and the approvals queue follow every complaint's changes, not only the
 *   user's own events: they ask to be rung ({"type": "board"}) and fetch themselves again
 *   when another supervisor takes, assigns, moves, escalates or decides;
 * - staff pages keep the bell's unread count current, and the complaint page shows who else
 *   is viewing or editing (presence), sending "editing" while a form field has focus.
 */
(function () {
  "use strict";

  var body = document.body;
  var socketPath = body.getAttribute("data-socket");
  if (!socketPath || !("WebSocket" in window) || !window.fetch || !window.DOMParser) {
    return;
  }
  var page = body.getAttribute("data-page") || "";
  var complaint = body.getAttribute("data-complaint") || "";
  // The page's own address, to fetch it again: after a form error the address bar still
  // shows the action the form posted to (POST only), so location cannot be used there.
  var refreshUrl = body.getAttribute("data-refresh-url") || window.location.href;
  var lastId = parseInt(body.getAttribute("data-last-event") || "0", 10) || 0;
  // The board's own mark: the newest complaint change it has been fetched after.
  var followsBoard = page === "board" || page === "approvals";
  var boardSeen = lastId;
  var statusRegion = document.getElementById("live-status");
  // Backoff between reconnects: 1 s doubling to 30 s, so a restarted server is not stormed.
  var retryMs = 1000;
  // Close codes that no retry can change: the page says why and stops reconnecting.
  var REFUSED = {
    4401: "Live updates stopped: your session has ended. Sign in again to resume them.",
    4403: "Live updates stopped: you may not follow this page.",
    4404: "Live updates stopped: this page has no live feed.",
  };
  var MAX_RETRY_MS = 30000;
  // Presence rows expire after 90 s without a heartbeat (notifications/presence.py).
  var HEARTBEAT_MS = 30000;
  // The channel layer is a doorbell and may drop a push: every 15 s the page says again
  // which event it saw last, and the server replays anything it missed from the inbox.
  var RESYNC_MS = 15000;
  var resyncTimer = null;
  // Several events of one change arrive together; one refresh covers them all.
  var REFRESH_DELAY_MS = 150;
  // A board is rung by every complaint's change, and a sweep can breach hundreds at once:
  // it fetches itself at most every 2 s, so a busy hour costs each open board one read per
  // 2 s rather than one per event, and a card still moves within about 2 s of the change.
  var BOARD_REFRESH_MIN_MS = 2000;
  var boardTimer = null;
  var lastRefreshAt = 0;
  var socket = null;
  var refreshTimer = null;
  var heartbeatTimer = null;
  var mode = "viewing";
  var dirty = {};

  function announce(text) {
    if (!statusRegion) { return; }
    statusRegion.textContent = "";
    window.setTimeout(function () { statusRegion.textContent = text; }, 50);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + socketPath);
    socket.addEventListener("open", function () {
      retryMs = 1000;
      body.setAttribute("data-live-connected", "true");
      send({ type: "hello", last_id: lastId });
      if (followsBoard) { send({ type: "board", last_id: boardSeen }); }
      window.clearInterval(resyncTimer);
      resyncTimer = window.setInterval(function () {
        send({ type: "hello", last_id: lastId });
        if (followsBoard) { send({ type: "board", last_id: boardSeen }); }
      }, RESYNC_MS);
      if (complaint) {
        send({ type: "open", complaint: complaint, mode: mode });
        window.clearInterval(heartbeatTimer);
        heartbeatTimer = window.setInterval(function () { send({ type: "heartbeat" }); }, HEARTBEAT_MS);
      }
    });
    socket.addEventListener("message", function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      handle(data);
    });
    socket.addEventListener("close", function (event) {
      body.removeAttribute("data-live-connected");
      window.clearInterval(heartbeatTimer);
      window.clearInterval(resyncTimer);
      // Refused for good (docs/security.md): retrying would be refused again, forever.
      if (REFUSED[event.code]) {
        body.setAttribute("data-live-refused", String(event.code));
        announce(REFUSED[event.code]);
        return;
      }
      window.setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    });
  }

  function handle(data) {
    if (data.type === "event" && data.event) {
      if (data.event.id <= lastId) { return; }  // replayed and pushed: seen already
      lastId = data.event.id;
      onEvent(data.event);
    } else if (data.type === "refetch") {
      scheduleRefresh();
      refreshBell();
    } else if (data.type === "board" && followsBoard) {
      if (typeof data.id === "number" && data.id > boardSeen) {
        boardSeen = data.id;
        scheduleBoardRefresh();
      }
    } else if (data.type === "presence") {
      renderPresence(data.people || []);
    }
  }

  function onEvent(event) {
    if (page === "complaint") {
      if (event.complaint === complaint) { scheduleRefresh(); }
    } else if (page === "queue" || followsBoard || page === "tracking" || page === "notifications") {
      scheduleRefresh();
    }
    refreshBell();
  }

  function scheduleRefresh() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, REFRESH_DELAY_MS);
  }

  function scheduleBoardRefresh() {
    if (boardTimer) { return; }  // the refresh already waiting covers this ring too
    var wait = Math.max(REFRESH_DELAY_MS, lastRefreshAt + BOARD_REFRESH_MIN_MS - Date.now());
    boardTimer = window.setTimeout(function () {
      boardTimer = null;
      refresh();
    }, wait);
  }

  function busy(region) {
    var active = document.activeElement;
    return (active && region.contains(active) && active !== region) || dirty[region.id];
  }

  function refresh() {
    lastRefreshAt = Date.now();
    window.fetch(refreshUrl, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) { return null; }
      return response.text();
    }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var changed = false;
      var regions = document.querySelectorAll("[data-live]");
      Array.prototype.forEach.call(regions, function (region) {
        if (!region.id) { return; }
        if (region.getAttribute("data-live") === "soft" && busy(region)) { return; }
        var replacement = fresh.getElementById(region.id);
        if (replacement && replacement.innerHTML !== region.innerHTML) {
          region.innerHTML = replacement.innerHTML;
          changed = true;
        }
      });
      var count = fresh.getElementById("bell-count");
      if (count) { setBell(count.textContent); }
      if (changed) {
        body.setAttribute("data-refreshed", String(Date.now()));
        announce(body.getAttribute("data-updated-text") || "This page was updated.");
      }
    }).catch(function () { /* the next event or reconnect tries again */ });
  }

  function setBell(value) {
    var bell = document.getElementById("bell-count");
    if (bell && bell.textContent !== String(value).trim()) {
      bell.textContent = String(value).trim();
    }
  }

  function refreshBell() {
    if (!document.getElementById("bell-count") || page === "tracking") { return; }
    window.fetch("/api/notifications/unread-count/", {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data && typeof data.unread === "number") { setBell(data.unread); }
    }).catch(function () {});
  }

  function renderPresence(people) {
    var list = document.getElementById("presence");
    if (!list) { return; }
    var me = body.getAttribute("data-username") || "";
    list.innerHTML = "";
    people.forEach(function (person) {
      if (person.username === me) { return; }
      var item = document.createElement("li");
      item.className = "avatar mode-" + person.mode;
      item.title = person.username + " (" + person.mode + ")";
      var letters = document.createElement("span");
      letters.setAttribute("aria-hidden", "true");
      letters.textContent = initials(person.username);
      var words = document.createElement("span");
      words.className = "visually-hidden";
      words.textContent = person.username + ", " + person.mode;
      item.appendChild(letters);
      item.appendChild(words);
      list.appendChild(item);
    });
  }

  function initials(name) {
    var parts = String(name).replace(/[._]/g, " ").split(/\s+/).filter(Boolean);
    return (parts.slice(0, 2).map(function (part) { return part.charAt(0); }).join("") || "?").toUpperCase();
  }

  function setMode(next) {
    if (!complaint || next === mode) { return; }
    mode = next;
    send({ type: "open", complaint: complaint, mode: mode });
  }

  if (complaint) {
    document.addEventListener("focusin", function (event) {
      if (event.target.closest && event.target.closest("form textarea, form input[type=text], form select")) {
        setMode("editing");
      }
    });
    document.addEventListener("focusout", function () {
      window.setTimeout(function () {
        var active = document.activeElement;
        if (!active || !active.closest || !active.closest("form")) { setMode("viewing"); }
      }, 200);
    });
  }
  document.addEventListener("input", function (event) {
    var region = event.target.closest && event.target.closest("[data-live]");
    if (region && region.id) { dirty[region.id] = true; }
  });

  connect();
})();
