// Embeds a Siyu web form: <script src=".../static/sales/embed.js" data-siyu-form="https://…/f/KEY/"></script>.
// Passes the page's UTM parameters, its address and the referrer to the form, which records them on the lead.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var url = new URL(script.getAttribute("data-siyu-form"));
  var page = new URLSearchParams(window.location.search);
  ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].forEach(function (k) {
    if (page.get(k)) url.searchParams.set(k, page.get(k));
  });
  url.searchParams.set("landing_url", window.location.href.split("#")[0].slice(0, 500));
  if (document.referrer) url.searchParams.set("referrer", document.referrer.slice(0, 500));
  var frame = document.createElement("iframe");
  frame.src = url.toString();
  frame.style.width = "100%";
  frame.style.minHeight = "520px";
  frame.style.border = "0";
  frame.title = script.getAttribute("data-title") || "form";
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
