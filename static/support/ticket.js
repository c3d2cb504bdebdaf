// The ticket page's keyboard shortcuts and canned responses. Every form works without it.
//   r  reply (opens and focuses the reply box)
//   a  assign (focuses the assignee list)
//   j or n  next ticket
(() => {
  const typing = (element) =>
    element instanceof HTMLElement &&
    (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "r") {
      const box = document.getElementById("reply-box");
      const body = document.getElementById("id_reply-body");
      if (box && body) {
        event.preventDefault();
        box.open = true;
        body.focus();
      }
    } else if (key === "a") {
      const select = document.querySelector("#assign-form select");
      if (select) {
        event.preventDefault();
        select.focus();
      }
    } else if (key === "j" || key === "n") {
      const next = document.getElementById("next-ticket");
      if (next instanceof HTMLAnchorElement) {
        event.preventDefault();
        window.location.assign(next.href);
      }
    }
  });

  // A canned response chosen from the list goes into the reply at the cursor.
  document.addEventListener("change", (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.dataset.cannedTarget || !select.value) {
      return;
    }
    const body = document.getElementById(select.dataset.cannedTarget);
    if (body instanceof HTMLTextAreaElement) {
      const at = body.selectionStart ?? body.value.length;
      body.value = body.value.slice(0, at) + select.value + body.value.slice(at);
      body.focus();
    }
    select.value = "";
  });
})();
