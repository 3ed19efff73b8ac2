// Invites: the little behaviour htmx does not cover. Loaded as a file (the CSP allows
// no inline script); every handler is delegated from <body>, so swapped content works.
(function () {
  "use strict";

  function announce(text) {
    var announcer = document.getElementById("announcer");
    if (!announcer) return;
    announcer.textContent = "";
    // A fresh text node, a moment later, so screen readers announce repeats too.
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // Servers announce changes with `HX-Trigger: {"announce": "…"}`.
  document.body.addEventListener("announce", function (event) {
    var detail = event.detail;
    announce(typeof detail === "string" ? detail : (detail && detail.value) || "");
  });

  // A failed htmx request must not fail silently.
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    var retryAfter = status === 429 ? parseInt(xhr.getResponseHeader("Retry-After"), 10) : NaN;
    var message = status === 429
      ? "Too many requests. " + (retryAfter > 0
          ? "Try again in " + (retryAfter < 60 ? retryAfter + " seconds." : Math.ceil(retryAfter / 60) + " minutes.")
          : "Wait a moment and try again.")
      : status === 403 ? "You do not have access to that."
      : status === 404 ? "That no longer exists. Reload the page."
      : "Something went wrong. Reload the page and try again.";
    showFlash(message, "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    showFlash("The server could not be reached. Check your connection and try again.", "error");
  });

  function showFlash(message, category) {
    var flashes = document.getElementById("flashes");
    if (!flashes) return;
    var p = document.createElement("p");
    p.className = "flash flash-" + category;
    p.setAttribute("role", "alert");
    p.textContent = message;
    flashes.replaceChildren(p);
  }

  window.Invites = { announce: announce, showFlash: showFlash };
})();
