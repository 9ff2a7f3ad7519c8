/* The office's screen (templates/display.html): polls the board and chimes when a desk calls a number.
   Served from 'self' like the stylesheet; builds the page with textContent only (no HTML from the network).
   Browsers start sound only after a gesture unless the kiosk allows autoplay: a button then offers it. */
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-board");
  var every = (parseInt(body.getAttribute("data-poll"), 10) || 4) * 1000;
  var deskLabel = body.getAttribute("data-desk-label") || "{n}";
  var nobody = body.getAttribute("data-nobody") || "-";
  var audio = null;
  var seen = {};

  function key(desk) { return desk.queue ? desk.queue + "#" + desk.calls : ""; }

  Array.prototype.forEach.call(document.querySelectorAll("#desks tr[data-desk]"), function (row) {
    var queue = row.getAttribute("data-queue");
    seen[row.getAttribute("data-desk")] = queue ? queue + "#" + row.getAttribute("data-calls") : "";
  });

  function chime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    if (!audio) { audio = new Context(); }
    if (audio.state === "suspended") {
      audio.resume();
      document.getElementById("sound").hidden = false;
    }
    [660, 880].forEach(function (frequency, i) {  // two notes: "ding-dong"
      var start = audio.currentTime + i * 0.45;
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.4, start + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.9);
      tone.connect(gain).connect(audio.destination);
      tone.start(start);
      tone.stop(start + 1);
    });
  }

  function cell(text, className) {
    var td = document.createElement("td");
    td.className = className;
    td.textContent = text;
    return td;
  }

  function render(board) {
    var rows = document.createDocumentFragment();
    var changed = [];
    board.desks.forEach(function (desk) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-desk", desk.number);
      tr.setAttribute("data-calls", desk.calls);
      tr.setAttribute("data-queue", desk.queue || "");
      var now = key(desk);
      if (desk.queue) { tr.className = "is-serving"; }
      if (now && seen[desk.number] !== now) { changed.push(desk.number); tr.className += " is-new"; }
      seen[desk.number] = now;
      tr.appendChild(cell(desk.queue || nobody, "display__number"));
      var where = document.createElement("td");
      where.className = "display__desk";
      var number = document.createElement("span");
      number.className = "display__desk-number";
      number.textContent = deskLabel.replace("{n}", desk.number);
      where.appendChild(number);
      if (desk.name) {
        var name = document.createElement("span");
        name.className = "display__desk-name";
        name.textContent = " " + desk.name;
        where.appendChild(document.createTextNode(" "));
        where.appendChild(name);
      }
      tr.appendChild(where);
      rows.appendChild(tr);
    });
    var tbody = document.getElementById("desks");
    if (board.desks.length) { tbody.replaceChildren(rows); }
    var list = document.getElementById("next");
    list.replaceChildren.apply(list, board.next.map(function (label) {
      var li = document.createElement("li");
      li.textContent = label;
      return li;
    }));
    document.getElementById("waiting").textContent = board.waiting;
    document.getElementById("clock").textContent = board.time;
    body.setAttribute("data-updated", String(Date.now()));
    if (changed.length) { chime(); }
  }

  function poll() {
    fetch(url, {cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (board) { if (board) { render(board); } })
      .catch(function () { /* the network is back at the next poll */ })
      .then(function () { window.setTimeout(poll, every); });
  }

  document.getElementById("sound").addEventListener("click", function () {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) { audio = new Context(); }
    if (audio) { audio.resume(); }
    document.getElementById("sound").hidden = true;
  });
  window.setTimeout(poll, every);
}());
