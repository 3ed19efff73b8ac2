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

  // Live usage swaps whole cards in out of band. A list the admin opened on a card
  // ("Who used it", "Activity") stays open in the new card, and loads again once htmx
  // has wired that card up, so it shows the change that caused the swap.
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target.classList || !target.classList.contains("invitation-card")) return;
    var fragment = event.detail.fragment;
    target.querySelectorAll("details[open]").forEach(function (opened) {
      var again = fragment.querySelector("details." + opened.classList[0]);
      if (again) {
        again.setAttribute("open", "");
        again.setAttribute("data-reopened", "");
      }
    });
  });
  document.body.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    if (!root.querySelectorAll) return;
    root.querySelectorAll("details[data-reopened]").forEach(function (details) {
      details.removeAttribute("data-reopened");
      htmx.trigger(details, "toggle");
    });
  });

  // Live usage stops asking once the server refuses (logged out, no longer an admin):
  // one message, not one every few seconds.
  document.body.addEventListener("htmx:responseError", function (event) {
    if (event.target.id === "live-usage") event.target.remove();
  });

  // Live usage: no polling while the tab is hidden; the next poll after it is shown
  // brings everything that changed meanwhile (the cursor is on the server's side).
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.target.id === "live-usage") event.preventDefault();
  });

  // Keep the keyboard where it was across a card swap. htmx restores focus by id, but
  // hx-disabled-elt has already taken it away from the button by then; so remember
  // the button (and its card) per request, and return to it, or to the card if the
  // button is gone (after Revoke), as soon as the new card is in. Per request: the
  // live-usage poll keeps asking meanwhile, and must not make the page forget.
  // On afterSwap, not afterSettle: a poll that re-sends the card within htmx's settle
  // delay (20 ms, longer on a loaded machine) replaces the new card before it settles,
  // and the afterSettle of a card no longer in the page never reaches document.body;
  // once the button has the focus, htmx keeps it across the poll's swap (same id).
  var focusAfterSwap = new Map();
  function changingCard(event) {
    // A request that will replace its card (Pause, Start, Revoke), not one that loads
    // a list inside it ("Who used it", "Activity").
    var target = event.detail.target;
    return target && target.classList && target.classList.contains("invitation-card") ? target : null;
  }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var card = changingCard(event);
    if (!card) return;
    card.setAttribute("data-busy", "");
    var active = document.activeElement;
    if (active && active.id && card.contains(active)) {
      focusAfterSwap.set(event.detail.elt, { element: active.id, card: card.id });
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var card = changingCard(event);
    if (card) card.removeAttribute("data-busy");
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var config = event.detail.requestConfig;
    if (!config || !focusAfterSwap.has(config.elt)) return;
    var wanted = focusAfterSwap.get(config.elt);
    focusAfterSwap.delete(config.elt);
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) return;
    var element = document.getElementById(wanted.element) || document.getElementById(wanted.card);
    if (element) element.focus();
  });
  // Live usage never overwrites a card whose change is in flight: the answer to that
  // change is the newer card, and the poll after it brings anything it missed (the
  // server sends the cards of the last few seconds again).
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.hasAttribute && target.hasAttribute("data-busy")) event.detail.shouldSwap = false;
  });

  // Copy Link: the clipboard when it is there, else the link shown and selected.
  document.body.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".copy-link") : null;
    if (!button) return;
    var link = button.getAttribute("data-link");
    var copied = function () {
      var label = button.textContent;
      button.textContent = "Copied ✓";
      button.classList.add("is-copied");
      announce("Link copied.");
      window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("is-copied");
      }, 2000);
    };
    var showField = function () {
      var card = button.closest(".invitation-card, .create-done");
      var field = card && card.querySelector(".link-field");
      if (!field) return;
      field.classList.add("is-shown");
      field.focus();
      field.select();
      announce("Copying is not available here. The link is selected: copy it by hand.");
    };
    if (button.classList.contains("is-copied")) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(copied, showField);
    } else {
      showField();
    }
  });

  // After a create: bring the new card into view and highlight it for a moment (a class,
  // since the CSP allows no inline style). Its confirmation next to the form names it.
  document.body.addEventListener("htmx:afterSettle", function () {
    var done = document.querySelector(".create-done[data-created]:not([data-seen])");
    if (!done) return;
    done.setAttribute("data-seen", "");
    var card = document.getElementById(done.getAttribute("data-created"));
    if (!card) return;
    var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    card.classList.add("is-new");
    card.scrollIntoView({ block: "nearest", behavior: still ? "auto" : "smooth" });
    window.setTimeout(function () { card.classList.remove("is-new"); }, 3000);
  });

  // Plain forms marked data-confirm (Remove a member): a dialog asks first, as hx-confirm
  // does for Revoke; confirmed, the form says so, and the server acts without asking
  // again. Without JavaScript the server answers a confirmation page instead.
  document.body.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-confirm]")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    var confirmed = form.querySelector("input[name=confirm]");
    if (confirmed) confirmed.value = "yes";
  });

  // Plain forms marked data-submit-once (the invite page's Join): a double click sends
  // one request, so the page that answers is the one for the first press.
  document.body.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-submit-once]")) return;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "true";
  });
  // Back to a page kept in the browser's memory: its forms may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
    });
  });

  window.Invites = { announce: announce, showFlash: showFlash };
})();
