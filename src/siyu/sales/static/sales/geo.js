// "Use my location" for a visit check-in: fills latitude and longitude from the browser's geolocation.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-geo-fill]");
    if (!button || !navigator.geolocation) return;
    var form = button.closest("form");
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.querySelector("[data-geo=lat]").value = pos.coords.latitude.toFixed(6);
      form.querySelector("[data-geo=lng]").value = pos.coords.longitude.toFixed(6);
    });
  });
})();
