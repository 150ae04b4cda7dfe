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
  // Buttons that only work through a script are rendered disabled with data-needs-script and come
  // alive once every deferred script has run, so a click made while the page loads is never lost.
  function arm(root) {
    root.querySelectorAll("[data-needs-script]").forEach(function (control) {
      control.disabled = false;
      control.removeAttribute("data-needs-script");
    });
  }
  // A filter changed while the page was still loading (before htmx listened) is applied now,
  // instead of being silently ignored.
  function changed(control) {
    if (control.type === "checkbox" || control.type === "radio") return control.checked !== control.defaultChecked;
    if (control.tagName === "SELECT") {
      const options = Array.prototype.slice.call(control.options);
      if (control.multiple) return options.some(function (o) { return o.selected !== o.defaultSelected; });
      const initial = Math.max(0, options.findIndex(function (o) { return o.defaultSelected; }));
      return options.length > 0 && control.selectedIndex !== initial;
    }
    return control.value !== control.defaultValue;
  }
  function catchUp(root) {
    if (typeof htmx === "undefined") return;
    root.querySelectorAll("form.filters[hx-get]").forEach(function (form) {
      if (Array.prototype.some.call(form.elements, function (c) { return c.name && changed(c); })) {
        htmx.trigger(form, "submit");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { arm(document); scheduleToasts(document); catchUp(document); });
  document.addEventListener("htmx:afterSwap", function (event) { arm(event.target); scheduleToasts(event.target); });
})();
