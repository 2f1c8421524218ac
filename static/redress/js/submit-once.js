// A form marked data-submit-once disables its submit buttons once sent, so a double-click
// sends it once. The server does not rely on this: the form's one-time token makes a second
// submit answer with the first complaint (desk/portal.py).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-submit-once]") || event.defaultPrevented) return;
  // After this submit is under way; disabling first would drop the button's name and value.
  setTimeout(() => {
    for (const button of form.querySelectorAll("button[type=submit], input[type=submit]")) {
      button.disabled = true;
      button.setAttribute("aria-disabled", "true");
    }
  }, 0);
});
