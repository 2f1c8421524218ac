// The queue's bulk bar: a "Select all on this page" button, the count of what is ticked,
// and the ticks kept when the live refresh swaps the rows. The form works without this.
"use strict";
(() => {
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const count = document.getElementById("bulk-count");
  const boxes = () => document.querySelectorAll('input[name="complaints"][form="bulk-form"]');
  const chosen = new Set();
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button";
  form.querySelector(".bulk-submit").prepend(button);

  const show = () => {
    const all = Array.from(boxes());
    const ticked = all.filter((box) => box.checked).length;
    count.textContent = ticked ? `${ticked} selected` : "";
    const every = all.length > 0 && ticked === all.length;
    button.textContent = every ? "Clear the selection" : "Select all on this page";
    button.setAttribute("aria-pressed", String(every));
  };

  button.addEventListener("click", () => {
    const all = Array.from(boxes());
    const tick = !all.every((box) => box.checked);
    for (const box of all) {
      box.checked = tick;
      if (tick) chosen.add(box.value);
      else chosen.delete(box.value);
    }
    show();
  });

  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!box.matches || !box.matches('input[name="complaints"][form="bulk-form"]')) return;
    if (box.checked) chosen.add(box.value);
    else chosen.delete(box.value);
    show();
  });

  // live.js marks the body when it swaps the rows: tick again what was ticked.
  new MutationObserver(() => {
    for (const box of boxes()) box.checked = chosen.has(box.value);
    show();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-refreshed"] });

  show();
})();
