// Folds on a phone: a <details class="fold" data-fold-on-phone open> (the queue's filters
// and its bulk bar) is closed on a narrow screen, so that the rows come first. On a wide one
// every fold is open: the stylesheet hides its summary there. Without this script every fold
// stays open.
"use strict";
(() => {
  // The stylesheet's small-screen width (redress.css, "Small screens").
  const narrow = window.matchMedia("(max-width: 40rem)");
  const folds = document.querySelectorAll("details.fold");
  if (!folds.length) return;
  const fit = () => {
    for (const fold of folds) {
      // One holding the focus stays open (the search box "/" or "#search" focused).
      const keep = !fold.hasAttribute("data-fold-on-phone") || fold.contains(document.activeElement);
      fold.open = !narrow.matches || (fold.open && keep);
    }
  };
  fit();
  // Crossing the width (a tablet turned): wide, a fold must be open, its summary is hidden.
  narrow.addEventListener("change", fit);
})();
