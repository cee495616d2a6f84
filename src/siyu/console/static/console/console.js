// Siyu console behaviour shared by every page. No inline scripts: the CSP allows script-src 'self' only.
(function () {
  "use strict";

  // A failed htmx request shows a visible alert instead of failing silently.
  function showError(text) {
    var main = document.getElementById("siyu-main");
    if (!main) return;
    var box = main.querySelector(".siyu-messages");
    if (!box) {
      box = document.createElement("div");
      box.className = "siyu-messages";
      box.setAttribute("role", "status");
      main.insertBefore(box, main.firstChild);
    }
    var alert = document.createElement("div");
    alert.className = "alert alert-danger alert-dismissible fade show";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    alert.appendChild(close);
    box.appendChild(alert);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    // 422 answers carry a form with the reasons per field: let the page swap it in.
    if (xhr && xhr.status === 422) return;
    var lang = document.documentElement.lang || "zh-hans";
    showError(lang.indexOf("zh") === 0 ? "请求失败（" + xhr.status + "），请重试。" : "The request failed (" + xhr.status + "). Please try again.");
  });

  // htmx swaps 422 responses too, so forms can show their field errors in place.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // On phones the navigation is an offcanvas; close it when a link is followed.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest(".siyu-nav-link") : null;
    if (!link || !window.bootstrap) return;
    var panel = document.getElementById("siyu-sidebar");
    var instance = panel && window.bootstrap.Offcanvas.getInstance(panel);
    if (instance) instance.hide();
  });
})();
