/* The root-cause picker (desk/root_cause_picker.html): a progressive enhancement, no build
 * step. The resolve form and the corrective-action form use it.
 *
 * As served, the form has a checkbox per cause, grouped by top-level cause, and on the
 * resolve form a select for the primary cause (the boxes are then the contributing causes);
 * both submit without this script. With it, they are
 * hidden behind one type-ahead over the same causes (the ARIA combobox pattern with a
 * listbox popup, the highlighted option named by aria-activedescendant):
 * - typing matches every word against the cause's path and code ("dup charge", "billing.");
 *   the causes recently used by this agent, then by their team (data-recent), come first,
 *   and are what an empty box offers;
 * - Down/Up move through the matches, Enter adds the highlighted cause, Escape closes the
 *   list (or clears the box), Backspace in the empty box removes the last cause;
 * - the chosen causes are listed under the box, each with a remove button (x); with a
 *   primary select, the first one is primary and the others have a "make primary" button;
 * - what is chosen is written back into the select (the first cause) and the checkboxes
 *   (the others), or without a select into the checkboxes alone: they are what the form
 *   submits.
 * live.js swaps the actions panel when the complaint changes; pickers that appear are
 * enhanced when they do.
 */
(function () {
  "use strict";

  // More matches than this help nobody: typing another letter does.
  var MAX_SHOWN = 30;
  var pickers = 0;

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text) { node.textContent = text; }
    return node;
  }

  function enhance(root) {
    var select = root.querySelector("select");
    var checklist = root.querySelector(".root-cause-checklist");
    if (!checklist || root.hasAttribute("data-enhanced")) { return; }
    // With a primary select, the first cause chosen is the primary one (the resolve form).
    var ranked = Boolean(select);
    root.setAttribute("data-enhanced", "");
    var id = "root-cause-picker-" + (++pickers);
    var say = function (name, value) {
      return (root.getAttribute("data-text-" + name) || "").replace("%s", value || "");
    };
    var recent = (root.getAttribute("data-recent") || "").split(/\s+/).filter(Boolean);

    var causes = [];
    var byCode = {};
    function known(code, path) {
      if (!code || byCode[code]) { return; }
      var cause = { code: code, path: path.trim() };
      cause.search = (cause.path + " " + cause.code).toLowerCase();
      cause.name = cause.path.split(">").pop().trim().toLowerCase();
      causes.push(cause);
      byCode[cause.code] = cause;
    }
    var boxes = {};
    Array.prototype.forEach.call(checklist.querySelectorAll("input[type=checkbox]"), function (box) {
      boxes[box.value] = box;
    });
    if (ranked) {
      Array.prototype.forEach.call(select.options, function (option) {
        known(option.value, option.textContent);
      });
    } else {
      Object.keys(boxes).forEach(function (code) {
        known(code, boxes[code].getAttribute("data-path") || code);
      });
    }
    // What the form holds already (as sent, after an error): primary first.
    var chosen = [];
    if (ranked && byCode[select.value]) { chosen.push(select.value); }
    Object.keys(boxes).forEach(function (code) {
      if (boxes[code].checked && byCode[code] && chosen.indexOf(code) < 0) { chosen.push(code); }
    });

    // -- the picker --------------------------------------------------------------------
    var field = element("div", { "class": "field root-cause-combo" });
    var label = element("label", { "for": id + "-input", id: id + "-label" }, say("label") + " ");
    label.appendChild(element("span", { "class": "required" }, "(" + say("required") + ")"));
    var help = element("p", { "class": "help", id: id + "-help" }, say("help"));
    var described = [id + "-help"];
    field.appendChild(label);
    field.appendChild(help);
    // The server's messages about either field move with them, and are read with the box.
    Array.prototype.forEach.call(root.querySelectorAll(".errors"), function (errors) {
      field.appendChild(errors);
      if (errors.id) { described.push(errors.id); }
      field.classList.add("has-error");
    });
    var combo = element("div", { "class": "combo" });
    var input = element("input", {
      type: "text",
      id: id + "-input",
      role: "combobox",
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": id + "-listbox",
      "aria-describedby": described.join(" "),
      "aria-required": "true",
      autocomplete: "off",
      spellcheck: "false"
    });
    var listbox = element("ul", {
      role: "listbox",
      id: id + "-listbox",
      "aria-labelledby": id + "-label",
      "class": "combo-list"
    });
    listbox.hidden = true;
    combo.appendChild(input);
    combo.appendChild(listbox);
    field.appendChild(combo);
    var chosenTitle = element("p", { "class": "chosen-title", id: id + "-chosen" }, say("chosen"));
    var chosenList = element("ul", { "class": "chosen-causes", "aria-labelledby": id + "-chosen" });
    var noneChosen = element("p", { "class": "help" }, say("none-chosen"));
    var status = element("p", { "class": "visually-hidden", role: "status" });
    field.appendChild(chosenTitle);
    field.appendChild(chosenList);
    field.appendChild(noneChosen);
    field.appendChild(status);

    // The served fields stay in the form, hidden; the box is required in their place.
    if (ranked) {
      var primaryField = select.closest(".field");
      (primaryField || select).hidden = true;
      select.required = false;
    }
    checklist.hidden = true;
    root.insertBefore(field, root.firstChild);

    var matches = [];
    var active = -1;

    function announce(text) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }

    function recentRank(code) {
      var at = recent.indexOf(code);
      return at < 0 ? recent.length : at;
    }

    function find(query) {
      var words = query.toLowerCase().split(/\s+/).filter(Boolean);
      var open = causes.filter(function (cause) { return chosen.indexOf(cause.code) < 0; });
      if (!words.length) {
        var usual = open.filter(function (cause) { return recent.indexOf(cause.code) >= 0; });
        return (usual.length ? usual : open).sort(function (a, b) {
          return recentRank(a.code) - recentRank(b.code);
        });
      }
      return open.filter(function (cause) {
        return words.every(function (word) { return cause.search.indexOf(word) >= 0; });
      }).sort(function (a, b) {
        // Recently used first, then names that begin with what was typed, then by code.
        return (recentRank(a.code) - recentRank(b.code)) ||
          ((a.name.indexOf(words[0]) === 0 ? 0 : 1) - (b.name.indexOf(words[0]) === 0 ? 0 : 1)) ||
          (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
      });
    }

    function setActive(index) {
      active = index;
      Array.prototype.forEach.call(listbox.children, function (option, at) {
        option.setAttribute("aria-selected", at === index ? "true" : "false");
      });
      if (index >= 0 && listbox.children[index]) {
        input.setAttribute("aria-activedescendant", listbox.children[index].id);
        listbox.children[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function open() {
      var query = input.value.trim();
      matches = find(query).slice(0, MAX_SHOWN);
      listbox.textContent = "";
      matches.forEach(function (cause, index) {
        var option = element("li", {
          role: "option",
          id: id + "-option-" + index,
          "aria-selected": "false",
          "class": "combo-option"
        });
        option.appendChild(element("span", { "class": "path" }, cause.path));
        option.appendChild(document.createTextNode(" "));
        option.appendChild(element("span", { "class": "code" }, cause.code));
        if (recent.indexOf(cause.code) >= 0) {
          option.appendChild(document.createTextNode(" "));
          option.appendChild(element("span", { "class": "tag" }, say("recent")));
        }
        // The box keeps the focus when an option is clicked.
        option.addEventListener("mousedown", function (event) { event.preventDefault(); });
        option.addEventListener("click", function () { add(cause.code); });
        listbox.appendChild(option);
      });
      listbox.hidden = matches.length === 0 && !query;
      input.setAttribute("aria-expanded", listbox.hidden ? "false" : "true");
      // What was typed picks the best match at once, so Enter adds it.
      setActive(query && matches.length ? 0 : -1);
      if (query) {
        announce(matches.length === 0 ? say("no-match") :
          matches.length === 1 ? say("one-match") : say("matches", String(matches.length)));
      }
    }

    function close() {
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      setActive(-1);
    }

    function write() {
      if (ranked) { select.value = chosen[0] || ""; }
      // The primary cause is the select's; without one, every cause chosen is ticked.
      var first = ranked ? 1 : 0;
      Object.keys(boxes).forEach(function (code) {
        boxes[code].checked = chosen.indexOf(code) >= first;
      });
      // live.js keeps a panel someone is changing as it is.
      (select || checklist).dispatchEvent(new Event("input", { bubbles: true }));
      show();
    }

    function show() {
      chosenList.textContent = "";
      chosen.forEach(function (code, index) {
        var path = byCode[code].path;
        var item = element("li", { "class": "chosen-cause" });
        item.appendChild(element("span", { "class": "path" }, path));
        // Without a primary select every cause counts alike: nothing to rank.
        if (ranked && index === 0) {
          item.appendChild(document.createTextNode(" "));
          item.appendChild(element("strong", {}, "(" + say("primary") + ")"));
        } else if (ranked) {
          var primary = element("button", {
            type: "button",
            "class": "link-like",
            "aria-label": say("make-primary", path)
          }, say("primary"));
          primary.addEventListener("click", function () { makePrimary(code); });
          item.appendChild(document.createTextNode(" "));
          item.appendChild(primary);
        }
        var remove = element("button", {
          type: "button",
          "class": "remove",
          "aria-label": say("remove", path)
        }, "\u00d7");
        remove.addEventListener("click", function () { drop(code); });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(remove);
        chosenList.appendChild(item);
      });
      chosenList.hidden = chosen.length === 0;
      noneChosen.hidden = chosen.length > 0;
    }

    function add(code) {
      if (chosen.indexOf(code) >= 0) { return; }
      chosen.push(code);
      input.value = "";
      close();
      write();
      announce(say(ranked && chosen.length === 1 ? "added-primary" : "added", byCode[code].path));
      input.focus();
    }

    function drop(code) {
      chosen.splice(chosen.indexOf(code), 1);
      write();
      announce(say("removed", byCode[code].path));
      input.focus();
    }

    function makePrimary(code) {
      chosen.splice(chosen.indexOf(code), 1);
      chosen.unshift(code);
      write();
      announce(say("added-primary", byCode[code].path));
      input.focus();
    }

    input.addEventListener("input", open);
    input.addEventListener("blur", close);
    input.addEventListener("keydown", function (event) {
      var isOpen = !listbox.hidden;
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (!isOpen) { open(); setActive(matches.length ? 0 : -1); return; }
          setActive(Math.min(active + 1, matches.length - 1));
          return;
        case "ArrowUp":
          event.preventDefault();
          if (isOpen) { setActive(Math.max(active - 1, 0)); }
          return;
        case "Enter":
          if (isOpen && active >= 0) {
            event.preventDefault();
            add(matches[active].code);
          } else if (input.value.trim()) {
            // Half a name typed is no reason to send the form.
            event.preventDefault();
          }
          return;
        case "Escape":
          if (isOpen) { event.preventDefault(); close(); }
          else if (input.value) { event.preventDefault(); input.value = ""; }
          return;
        case "Backspace":
          if (!input.value && chosen.length) {
            event.preventDefault();
            drop(chosen[chosen.length - 1]);
          }
          return;
      }
    });
    show();
  }

  function enhanceAll() {
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-root-cause-picker]:not([data-enhanced])"), enhance
    );
  }

  enhanceAll();
  if ("MutationObserver" in window) {
    new MutationObserver(enhanceAll).observe(document.body, { childList: true, subtree: true });
  }
})();
