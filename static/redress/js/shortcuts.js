/* Keyboard shortcuts for the desk: a progressive enhancement, no build step.
 *
 * Every page works without this script; with it, an agent works from the keyboard:
 * - SHORTCUTS below is the whole table: the keys, where they work, what they do, the words
 *   the help shows. "?" opens the help (a modal dialog built from the same table), and the
 *   "Keyboard shortcuts" button in the header does too;
 * - a shortcut never fires while the person types in a field (input, textarea, select,
 *   anything contenteditable), nor with Ctrl, Alt or Meta held: the letter is typed, and the
 *   browser's and the screen reader's own keys keep working;
 * - in the queue, j and k move the current row (its reference link takes the focus, the row
 *   is marked aria-current), o or Enter opens it; o with no current row opens the first,
 *   which is the most urgent;
 * - on the complaint page a letter opens its action's form (the <details> around it),
 *   and puts the cursor in the first field still empty (else the first field). It never
 *   submits: that stays Enter on the button, or Ctrl+Enter (Cmd+Enter) in a text box or
 *   a list (the macro chooser's: m, then Ctrl+Enter fills the macro in);
 * - a pre-filled text box reached from the keyboard takes the caret at the end of its text;
 * - g then a letter goes somewhere ("g q": my queue), the second key within GO_WINDOW_MS;
 * - the help has a switch that turns the one-key shortcuts off, remembered in this browser
 *   (localStorage): someone who speaks commands, or whose hand rests on the keys, must be
 *   able to stop single letters acting (WCAG 2.1.4, Character Key Shortcuts). Ctrl+Enter,
 *   and the header's button that opens the help, keep working.
 * Forms, links and fields carry data-shortcut="<name>" in the templates: that is how a
 * shortcut finds what it works on, whatever the page's wording or layout.
 */
(function () {
  "use strict";

  var body = document.body;
  if (!body || !document.querySelector || !window.HTMLDialogElement) { return; }
  var page = body.getAttribute("data-page") || "";

  // One row a shortcut. keys: what is pressed ("g q" is g, then q); where: "desk" (every
  // desk page), "queue" or "complaint"; action: a function of ACTIONS below; target: the
  // data-shortcut name it works on; text: what the help says.
  // A new shortcut is a row here, and data-shortcut="<target>" on what it works on in the
  // template: the macros' chooser is data-shortcut="macro" in templates/desk/macro_panel.html.
  var SHORTCUTS = [
    { keys: "?", where: "desk", action: "help", text: "Show these shortcuts" },
    { keys: "/", where: "desk", action: "search", target: "search", text: "Search the queue" },
    { keys: "g q", where: "desk", action: "go", target: "go-my-queue", text: "Go to my queue" },
    { keys: "g t", where: "desk", action: "go", target: "go-team-queue", text: "Go to the team queue" },
    { keys: "g u", where: "desk", action: "go", target: "go-unassigned", text: "Go to the unassigned complaints" },
    { keys: "j", where: "queue", action: "move", step: 1, text: "Next complaint" },
    { keys: "k", where: "queue", action: "move", step: -1, text: "Previous complaint" },
    { keys: "o", where: "queue", action: "open", text: "Open the current complaint (Enter too); with none chosen, the most urgent" },
    { keys: "t", where: "complaint", action: "form", target: "take", text: "Take it (assign to me)" },
    { keys: "a", where: "complaint", action: "form", target: "acknowledge", text: "Acknowledge" },
    { keys: "r", where: "complaint", action: "form", target: "reply", text: "Reply to the customer" },
    { keys: "m", where: "complaint", action: "form", target: "macro", text: "Use a macro" },
    { keys: "n", where: "complaint", action: "form", target: "note", text: "Add an internal note" },
    { keys: "s", where: "complaint", action: "form", target: "resolve", text: "Resolve" },
    { keys: "p", where: "complaint", action: "form", target: "recovery", text: "Offer a recovery" },
    { keys: "c", where: "complaint", action: "form", target: "close-loop", text: "Close the loop" }
  ];
  // Keys the help lists that are not in the table above: they work in a field.
  var IN_A_FIELD = [
    { keys: "Ctrl+Enter", text: "In a text box or a list: send its form (Cmd+Enter on a Mac)" },
    { keys: "Escape", text: "Close this help" }
  ];
  var GROUPS = [
    { where: "desk", title: "Everywhere on the desk" },
    { where: "queue", title: "In a queue" },
    { where: "complaint", title: "On a complaint" }
  ];
  var TEXT = {
    title: "Keyboard shortcuts",
    open: "Keyboard shortcuts",
    close: "Close",
    intro: "Shortcuts work when the cursor is not in a field. Press Escape to close this help.",
    key: "Keys",
    does: "What it does",
    then: "then",
    fieldKeys: "In a field",
    unavailable: "Not available here: %s.",
    enabled: "Use the one-key shortcuts (uncheck if letters you say or type set off actions)"
  };
  var STORAGE_KEY = "redress.shortcuts";
  // The second key of a "g" sequence must follow within this: long enough to reach a key
  // without hurry, short enough that a stray g is forgotten before the next shortcut.
  var GO_WINDOW_MS = 1500;

  var pending = "";
  var pendingTimer = null;
  var dialog = null;
  var returnFocus = null;
  var statusRegion = document.getElementById("live-status");

  function enabled() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) !== "off";
    } catch (error) {
      return true;  // storage refused (a private window's settings): the default
    }
  }

  function setEnabled(on) {
    try {
      if (on) { window.localStorage.removeItem(STORAGE_KEY); } else { window.localStorage.setItem(STORAGE_KEY, "off"); }
    } catch (error) { /* kept for this page only */ }
  }

  function say(text, value) {
    return text.replace("%s", value || "");
  }

  function announce(text) {
    if (!statusRegion) { return; }
    statusRegion.textContent = "";
    window.setTimeout(function () { statusRegion.textContent = text; }, 50);
  }

  function typingIn(target) {
    if (!target || !target.closest) { return false; }
    return !!target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])");
  }

  function applies(shortcut) {
    return shortcut.where === "desk" || shortcut.where === page;
  }

  function target(name) {
    return document.querySelector("[data-shortcut='" + name + "']");
  }

  function visible(element) {
    return !!(element.offsetWidth || element.offsetHeight || element.getClientRects().length);
  }

  // -- the queue ------------------------------------------------------------------------

  var currentReference = "";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr[data-reference]"));
  }

  function rowLink(row) {
    return row.querySelector("a[data-shortcut='open']") || row.querySelector("a[href]");
  }

  function markCurrent() {
    rows().forEach(function (row) {
      if (row.getAttribute("data-reference") === currentReference) {
        row.setAttribute("aria-current", "true");
      } else {
        row.removeAttribute("aria-current");
      }
    });
  }

  function choose(row) {
    currentReference = row.getAttribute("data-reference");
    markCurrent();
    var link = rowLink(row);
    if (link) { link.focus(); }
    row.scrollIntoView({ block: "nearest" });
  }

  function currentRow() {
    var all = rows();
    for (var i = 0; i < all.length; i += 1) {
      if (all[i].getAttribute("data-reference") === currentReference) { return all[i]; }
    }
    return null;
  }

  // -- the help -------------------------------------------------------------------------

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function keyCell(keys) {
    var cell = element("th", { scope: "row" });
    keys.split(" ").forEach(function (key, index) {
      if (index) { cell.appendChild(document.createTextNode(" " + TEXT.then + " ")); }
      cell.appendChild(element("kbd", {}, key));
    });
    return cell;
  }

  function table(title, shortcuts) {
    var section = element("table", { "class": "shortcut-table" });
    section.appendChild(element("caption", {}, title));
    var head = element("tr");
    head.appendChild(element("th", { scope: "col" }, TEXT.key));
    head.appendChild(element("th", { scope: "col" }, TEXT.does));
    section.appendChild(element("thead")).appendChild(head);
    var rowsBody = section.appendChild(element("tbody"));
    shortcuts.forEach(function (shortcut) {
      var line = element("tr");
      line.appendChild(keyCell(shortcut.keys));
      line.appendChild(element("td", {}, shortcut.text));
      rowsBody.appendChild(line);
    });
    return section;
  }

  function buildHelp() {
    var built = element("dialog", { id: "shortcut-help", "class": "shortcut-help", "aria-labelledby": "shortcut-help-title" });
    built.appendChild(element("h2", { id: "shortcut-help-title" }, TEXT.title));
    built.appendChild(element("p", {}, TEXT.intro));
    var switchLabel = built.appendChild(element("label", { "class": "choice", "for": "shortcut-help-enabled" }));
    var toggle = element("input", { type: "checkbox", id: "shortcut-help-enabled" });
    toggle.checked = enabled();
    toggle.addEventListener("change", function () { setEnabled(toggle.checked); });
    switchLabel.appendChild(toggle);
    switchLabel.appendChild(document.createTextNode(" " + TEXT.enabled));
    GROUPS.forEach(function (group) {
      built.appendChild(table(group.title, SHORTCUTS.filter(function (s) { return s.where === group.where; })));
    });
    built.appendChild(table(TEXT.fieldKeys, IN_A_FIELD));
    var close = element("button", { type: "button", "class": "button" }, TEXT.close);
    close.addEventListener("click", function () { built.close(); });
    built.appendChild(element("p", { "class": "button-row" })).appendChild(close);
    built.addEventListener("close", function () {
      var back = returnFocus;
      returnFocus = null;
      if (back && document.contains(back)) { back.focus(); }
    });
    document.body.appendChild(built);
    return built;
  }

  function showHelp() {
    dialog = dialog || buildHelp();
    if (dialog.open) { return; }
    dialog.querySelector("#shortcut-help-enabled").checked = enabled();
    returnFocus = document.activeElement;
    dialog.showModal();
    dialog.querySelector("h2").setAttribute("tabindex", "-1");
    dialog.querySelector("h2").focus();
  }

  // -- the actions ----------------------------------------------------------------------

  function emptyField(form) {
    var fields = Array.prototype.filter.call(form.elements, function (field) {
      return !field.disabled && field.type !== "hidden" && field.type !== "submit" &&
        field.type !== "button" && field.type !== "checkbox" && field.tagName !== "FIELDSET" &&
        field.tagName !== "BUTTON" && visible(field);
    });
    for (var i = 0; i < fields.length; i += 1) {
      var field = fields[i];
      if (field.type === "radio") {
        if (!form.querySelector("input[type=radio][name='" + field.name + "']:checked")) { return field; }
      } else if (!field.value) {
        return field;
      }
    }
    return fields[0] || form.querySelector("button[type=submit], button:not([type])");
  }

  // A field folded away (the queue's filters on a phone: fold-on-phone.js) is unfolded
  // before it takes the focus.
  function unfold(field) {
    var fold = field.closest("details");
    if (fold && !fold.open) { fold.open = true; }
  }

  function focusEnd(field) {
    field.focus();
    if ((field.tagName === "TEXTAREA" || field.type === "text") && field.setSelectionRange) {
      var end = field.value.length;
      field.setSelectionRange(end, end);
    }
  }

  var ACTIONS = {
    help: showHelp,
    search: function () {
      var box = target("search");
      if (box) {
        unfold(box);
        box.focus();
        if (box.select) { box.select(); }
        return;
      }
      // Off a queue page: the team queue, its search box focused when it opens.
      var queue = target("go-team-queue") || target("go-my-queue");
      if (queue) { window.location.assign(queue.href + "#search"); }
    },
    go: function (shortcut) {
      var link = target(shortcut.target);
      if (link) {
        window.location.assign(link.href);
      } else {
        announce(say(TEXT.unavailable, shortcut.text));
      }
    },
    move: function (shortcut) {
      var all = rows();
      if (!all.length) { return; }
      var index = all.indexOf(currentRow());
      index = index < 0 ? (shortcut.step > 0 ? 0 : all.length - 1) : index + shortcut.step;
      choose(all[Math.max(0, Math.min(all.length - 1, index))]);
    },
    open: function () {
      var row = currentRow() || rows()[0];
      var link = row && rowLink(row);
      if (link) { window.location.assign(link.href); }
    },
    form: function (shortcut) {
      var form = target(shortcut.target);
      if (!form || !visible(form.closest("details") || form)) {
        announce(say(TEXT.unavailable, shortcut.text));
        return;
      }
      var details = form.closest("details");
      if (details && !details.open) { details.open = true; }
      var field = form.tagName === "FORM" ? emptyField(form) : form;
      if (field) { focusEnd(field); }
    }
  };

  // -- the keys -------------------------------------------------------------------------

  function find(keys) {
    for (var i = 0; i < SHORTCUTS.length; i += 1) {
      if (SHORTCUTS[i].keys === keys && applies(SHORTCUTS[i])) { return SHORTCUTS[i]; }
    }
    return null;
  }

  function startsSequence(key) {
    return SHORTCUTS.some(function (shortcut) {
      return applies(shortcut) && shortcut.keys.indexOf(key + " ") === 0;
    });
  }

  function submitFrom(field) {
    // Ctrl+Enter sends the field's form, as its one submit button would: a form with
    // several buttons (accept, open, discard) needs the person to say which.
    var form = field.form;
    if (!form) { return false; }
    var buttons = form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
    if (buttons.length !== 1) { return false; }
    form.requestSubmit(buttons[0]);
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) { return; }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
      if (/^(TEXTAREA|INPUT|SELECT)$/.test(event.target.tagName)) {
        if (submitFrom(event.target)) { event.preventDefault(); }
      }
      return;
    }
    if (event.ctrlKey || event.altKey || event.metaKey) { return; }
    if (typingIn(event.target) || (dialog && dialog.open) || !enabled()) { return; }
    if (event.key.length !== 1) { return; }
    var keys = pending ? pending + " " + event.key : event.key;
    window.clearTimeout(pendingTimer);
    pending = "";
    var shortcut = find(keys);
    if (!shortcut && !keys.includes(" ") && startsSequence(keys)) {
      pending = keys;
      pendingTimer = window.setTimeout(function () { pending = ""; }, GO_WINDOW_MS);
      event.preventDefault();
      return;
    }
    if (!shortcut) { return; }
    event.preventDefault();
    ACTIONS[shortcut.action](shortcut);
  });

  // The current row follows the focus (Tab, a click) and outlives a live refresh of the
  // queue: live.js swaps the section's contents, which takes the focused link away with the
  // old rows, so the same complaint's new link takes the focus back.
  var queue = document.getElementById("queue");
  var rowFocused = false;
  document.addEventListener("focusin", function (event) {
    var row = queue && event.target.closest && event.target.closest("#queue tr[data-reference]");
    rowFocused = !!row;
    if (row) {
      currentReference = row.getAttribute("data-reference");
      markCurrent();
    }
  });
  if (queue && window.MutationObserver) {
    new MutationObserver(function () {
      if (!currentReference || queue.querySelector("tr[aria-current]")) { return; }
      markCurrent();
      var row = currentRow();
      var active = document.activeElement;
      if (row && rowFocused && (!active || active === document.body)) {
        var link = rowLink(row);
        if (link) { link.focus({ preventScroll: true }); }
      }
    }).observe(queue, { childList: true, subtree: true });
  }

  // A pre-filled text box reached from the keyboard (Tab, Shift+Tab, a shortcut, its
  // label) takes the caret at the end of its text, as focusEnd does: Chromium puts it at the
  // start, and what the agent then typed went in front of the text ("مرحباWe have recorded
  // the cause…"). A click in the box itself puts the caret where it points, and a caret the
  // person placed before leaving the box (not at the start) is where they left it. Not a
  // one-key shortcut: the switch in the help leaves it on.
  var pointedAt = null;
  document.addEventListener("pointerdown", function (event) { pointedAt = event.target; }, true);
  document.addEventListener("keydown", function () { pointedAt = null; }, true);
  document.addEventListener("focusin", function (event) {
    var field = event.target;
    if (field.tagName !== "TEXTAREA" || !field.value || field.readOnly) { return; }
    if (pointedAt && field.contains(pointedAt)) { return; }
    if (field.selectionStart === 0 && field.selectionEnd === 0) {
      field.setSelectionRange(field.value.length, field.value.length);
    }
  });

  // The help's button, in the header: only with the script, since the keys need it too.
  var account = document.querySelector(".site-header .account");
  if (account) {
    var opener = element("button", { type: "button", "class": "link-button", "aria-haspopup": "dialog", "aria-keyshortcuts": "?" }, TEXT.open);
    opener.addEventListener("click", showHelp);
    account.insertBefore(opener, account.firstChild);
  }

  if (window.location.hash === "#search") {
    var box = target("search");
    if (box) {
      unfold(box);
      box.focus();
    }
  }

  // The macro chooser is a GET form that comes back to "#macro-text", the chosen macro's
  // text filled in: the text takes the focus, the cursor at its end, to read, edit and send
  // with Ctrl+Enter. Chromium focuses a focusable fragment target by itself (after this
  // script has run, so no other field could keep the focus there), not every browser does.
  // Not a one-key shortcut: the switch in the help leaves it on.
  if (window.location.hash === "#macro-text") {
    var filled = document.getElementById("macro-text");
    if (filled && filled.form && filled.form.getAttribute("data-shortcut") === "macro-send") {
      focusEnd(filled);
    }
  }
})();
