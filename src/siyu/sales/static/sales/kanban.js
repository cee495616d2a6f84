// The opportunity board: native HTML5 drag and drop. A drop posts the card's new stage and neighbours to the
// server (the stage gates are checked there); a refusal puts the card back and shows the reason.
(function () {
  "use strict";
  var board = document.querySelector(".sales-board[data-move-url]");
  if (!board || board.getAttribute("data-can-move") !== "1") return;
  var dragged = null, origin = null, originNext = null;
  var error = document.querySelector("[data-kanban-error]");

  function moveUrl(id) { return board.getAttribute("data-move-url").replace(/\/0\/move\/$/, "/" + id + "/move/"); }

  function cardAfter(zone, y) {
    var cards = Array.prototype.slice.call(zone.querySelectorAll(".sales-card:not(.sales-dragging)"));
    for (var i = 0; i < cards.length; i++) {
      var box = cards[i].getBoundingClientRect();
      if (y < box.top + box.height / 2) return cards[i];
    }
    return null;
  }

  function showError(text) {
    if (!error) return;
    error.textContent = text;
    error.classList.toggle("d-none", !text);
  }

  board.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".sales-card");
    if (!card) return;
    dragged = card; origin = card.parentNode; originNext = card.nextSibling;
    card.classList.add("sales-dragging", "opacity-50");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.getAttribute("data-opportunity-id"));
  });
  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("sales-dragging", "opacity-50");
  });
  board.addEventListener("dragover", function (e) {
    var zone = e.target.closest && e.target.closest(".sales-dropzone");
    if (!zone || !dragged) return;
    e.preventDefault();
    var after = cardAfter(zone, e.clientY);
    var more = zone.querySelector(".sales-more");
    zone.insertBefore(dragged, after || more || null);
  });
  board.addEventListener("drop", function (e) {
    var zone = e.target.closest && e.target.closest(".sales-dropzone");
    if (!zone || !dragged) return;
    e.preventDefault();
    var card = dragged;
    var prev = card.previousElementSibling, next = card.nextElementSibling;
    var body = new URLSearchParams();
    body.set("stage_id", zone.getAttribute("data-stage-id"));
    if (next && next.classList.contains("sales-card")) body.set("before_id", next.getAttribute("data-opportunity-id"));
    if (prev && prev.classList.contains("sales-card")) body.set("after_id", prev.getAttribute("data-opportunity-id"));
    fetch(moveUrl(card.getAttribute("data-opportunity-id")), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": board.getAttribute("data-csrf"), "Accept": "application/json" }
    }).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (res) {
        if (res.ok && res.data.ok) { showError(""); return; }
        origin.insertBefore(card, originNext);
        showError((res.data && res.data.message) || "refused");
      })
      .catch(function (err) { origin.insertBefore(card, originNext); showError(String(err)); });
    dragged = null;
  });
})();
