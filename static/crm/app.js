// Small progressive enhancements; every form still works without JavaScript.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit")) {
    target.form?.requestSubmit();
  }
});

// Buttons that change something drastic ask first.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button?.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Receipts and statements: a button that prints the page (print styles in app.css).
document.addEventListener("click", (event) => {
  const target = event.target;
  if (target instanceof Element && target.closest("[data-print]")) {
    window.print();
  }
});

// Filters folded on a phone unless one is in use: a dozen inputs would push the list off the
// first screen. They are open in the page itself, so without JavaScript nothing is hidden.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.matchMedia("(max-width: 640px)").matches) return;
  for (const details of document.querySelectorAll("details[data-fold-narrow]:not([data-active])")) {
    details.open = false;
  }
});
