// The status page: reads /api/boards and /api/queue every few seconds and redraws, without a
// reload. Everything is built with textContent (no HTML from the data). No library, nothing
// fetched from outside the gateway. ?refresh=SECONDS changes the pace (at least 0.2 s).
"use strict";
(function () {
  var params = new URLSearchParams(location.search);
  var every = Math.max(0.2, parseFloat(params.get("refresh")) || 5) * 1000;
  var updates = 0;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function when(iso) { return iso ? iso.replace("T", " ").replace("Z", " UTC") : "never"; }
  function row(tbody, cells, cls) {
    var tr = el("tr");
    cells.forEach(function (c, i) { tr.appendChild(el("td", cls && cls[i] ? {"class": cls[i]} : null, c)); });
    tbody.appendChild(tr);
  }
  function fill(id, rows, empty, make) {
    var tb = document.querySelector("#" + id + " tbody");
    tb.textContent = "";
    if (!rows.length) {
      var tr = el("tr"), td = el("td", {"colspan": "6", "class": "none"}, empty);
      tr.appendChild(td); tb.appendChild(tr);
    }
    rows.forEach(function (r) { make(tb, r); });
  }

  var charts = {};   // chart URL -> its <img>, reused while the URL stays the same
  var keep = {};

  function drawBoards(data) {
    keep = {};
    var box = document.getElementById("boards");
    box.textContent = "";
    if (!data.boards.length) box.appendChild(el("p", {"class": "none"}, "no boards heard yet"));
    data.boards.forEach(function (b) {
      var d = el("div", {"class": "board", "id": "board-" + b.device, "data-state": b.state});
      var h = el("h3", null, b.device);
      h.appendChild(el("span", {"class": "state " + b.state}, b.state));
      d.appendChild(h);
      d.appendChild(el("p", {"class": "seen"}, "last seen " + when(b.last_seen) + (b.path ? " via " + b.path : "")));
      var rs = el("div", {"class": "readings"});
      b.readings.forEach(function (r) {
        var c = el("div", {"class": "reading", "data-name": r.name});
        c.appendChild(el("span", {"class": "name"}, r.name + " "));
        c.appendChild(el("span", {"class": "value"}, r.value));
        c.appendChild(el("span", {"class": "at"}, " at " + when(r.at)));
        // the chart is fetched again only when a new reading came (no flicker, no reload)
        var src = r.chart + "?t=" + encodeURIComponent(r.at || "");
        var img = charts[src] || el("img", {"src": src, "alt": r.name + " over the last 24 h",
                                             "width": "600", "height": "160"});
        keep[src] = img;
        c.appendChild(img);
        rs.appendChild(c);
      });
      if (!b.readings.length) rs.appendChild(el("p", {"class": "none"}, "no readings (the board publishes them on outpost/" + b.device + "/state)"));
      d.appendChild(rs);
      var eps = el("ul", {"class": "episodes"});
      b.episodes.forEach(function (e) {
        eps.appendChild(el("li", {"class": e.severity}, e.severity + ": " + e.subject + " (open since " + when(e.since) +
          (e.repeats ? ", " + e.repeats + " reminder" + (e.repeats > 1 ? "s" : "") : "") + ")"));
      });
      d.appendChild(el("p", {"class": "episodes-title"}, b.episodes.length ? "open episodes:" : "no open episode"));
      d.appendChild(eps);
      box.appendChild(d);
    });
    charts = keep;
  }

  function drawQueue(q) {
    var c = q.counts;
    document.getElementById("running").textContent = q.running ? "gateway running" : "gateway not running";
    document.getElementById("counts").textContent = c.alerts + " alerts in the spool; deliveries waiting " +
      (c.ready + c.sending) + ", delivered " + c.done + ", dead " + c.dead;
    var p = document.getElementById("paused");
    p.hidden = !q.relay_paused;
    p.textContent = q.relay_paused ? "relay paused since " + when(q.relay_paused.since) + ": " + q.relay_paused.reason : "";
    fill("pending", q.pending, "nothing waiting", function (tb, r) {
      row(tb, [r.id, r.device, r.rcpt, r.status, r.reason, r.next_try ? when(r.next_try) : "-"]);
    });
    fill("dead", q.dead, "no dead letters", function (tb, r) {
      row(tb, [r.id, r.rcpt, when(r.at), r.reply]);
    });
    fill("recent", q.recent, "no alerts yet", function (tb, r) {
      row(tb, [when(r.received), r.device, r.severity, r.subject, r.path, r.delivery],
          [null, null, null, null, null, "delivery-" + r.delivery]);
    });
  }

  function get(url) {
    return fetch(url, {cache: "no-store", credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }

  function tick() {
    Promise.all([get("/api/boards"), get("/api/queue")]).then(function (res) {
      drawBoards(res[0]);
      drawQueue(res[1]);
      updates += 1;
      document.body.setAttribute("data-updates", String(updates));
      document.getElementById("updated").textContent = when(res[1].now);
      document.getElementById("offline-note").hidden = true;
      document.dispatchEvent(new CustomEvent("outpost-updated", {detail: updates}));
    }).catch(function () {
      document.getElementById("offline-note").hidden = false;
    }).then(function () { setTimeout(tick, every); });
  }
  tick();
})();
