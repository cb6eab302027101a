// Strata dashboard: small progressive enhancement. Every page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // On a narrow screen the menu starts folded, so a page opens on its content
  // (without script it stays open: every link still reachable). The script is
  // deferred, so the document is parsed by now.
  var menu = document.querySelector("details.menu");
  if (menu && window.matchMedia("(max-width: 760px)").matches) { menu.open = false; }

  // Confirm before destructive actions (forms marked data-confirm).
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f.matches && f.matches("form[data-confirm]") && !window.confirm(f.getAttribute("data-confirm"))) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  }, true);

  // The project switcher submits itself when a project is chosen.
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) { el.form.submit(); }
  });

  // Upload progress: htmx reports the request's upload progress on the form.
  document.addEventListener("htmx:xhr:progress", function (ev) {
    var form = ev.target.closest ? ev.target.closest("form") : null;
    if (!form) { return; }
    var bar = form.querySelector("progress");
    var text = form.querySelector(".upload-status");
    var d = ev.detail;
    if (bar && d.lengthComputable) {
      bar.max = d.total; bar.value = d.loaded;
      if (text) { text.textContent = Math.floor(100 * d.loaded / d.total) + "% sent"; }
    }
  });
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var form = ev.target;
    if (form.tagName === "FORM" && form.querySelector("progress")) {
      form.querySelector("progress").hidden = false;
      var b = form.querySelector("button[type=submit]");
      if (b) { b.disabled = true; }
    }
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    var form = ev.target;
    if (form.tagName === "FORM") {
      var b = form.querySelector("button[type=submit]");
      if (b) { b.disabled = false; }
      var text = form.querySelector(".upload-status");
      if (text && !ev.detail.successful) { text.textContent = "The upload failed; see the message above."; }
    }
  });
})();
