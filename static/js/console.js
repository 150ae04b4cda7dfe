// Behaviour shared by every page. No inline scripts anywhere: the Content-Security-Policy
// allows scripts from this origin only.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // htmx requests carry the current CSRF cookie (it rotates at sign-in).
  document.addEventListener("htmx:configRequest", function (event) {
    const token = csrfToken();
    if (token) event.detail.headers["X-CSRFToken"] = token;
  });

  // Confirmation dialogs before destructive actions.
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-confirm-open]");
    if (opener) {
      const dialog = document.getElementById("dialog-" + opener.dataset.confirmOpen);
      if (dialog) dialog.showModal();
      return;
    }
    const cancel = event.target.closest("[data-confirm-cancel]");
    if (cancel) {
      cancel.closest("dialog").close();
      return;
    }
    const dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) dismiss.closest("[data-toast]").remove();
  });

  // Toasts fade away on their own unless they report an error.
  function scheduleToasts(root) {
    root.querySelectorAll("[data-toast]").forEach(function (toast) {
      if (toast.dataset.scheduled || toast.classList.contains("toast-error")) return;
      toast.dataset.scheduled = "1";
      setTimeout(function () { toast.remove(); }, 6000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scheduleToasts(document); });
  document.addEventListener("htmx:afterSwap", function (event) { scheduleToasts(event.target); });
})();
