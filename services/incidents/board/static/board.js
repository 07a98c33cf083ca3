// Corral's incident board: live rows, actions through the incident API, keys.
// Plain JavaScript, no build step; the pages work without it, read-only.
"use strict";

(() => {
  const body = document.body;
  const page = body.dataset.page;

  // --- Following changes (Server-Sent Events) ------------------------------

  const connection = document.getElementById("connection");

  function showConnection(live) {
    if (!connection) return;
    connection.hidden = false;
    connection.textContent = live ? "Live" : "Reconnecting…";
    connection.classList.toggle("down", !live);
  }

  // EventSource reconnects by itself after a dropped connection, but gives
  // up on an HTTP error (a worker restarting answers 503): then we retry.
  // With pauseWhenHidden the stream closes while the tab is hidden (a browser
  // holds only six connections to one host) and opens again when it is shown:
  // its first event brings the page up to date.
  function follow(url, handlers, pauseWhenHidden = false) {
    let delay = 1000;
    let source = null;
    let retry = null;
    const open = () => {
      retry = null;
      source = new EventSource(url);
      source.addEventListener("open", () => {
        delay = 1000;
        showConnection(true);
      });
      for (const [name, handle] of Object.entries(handlers)) {
        source.addEventListener(name, (message) => handle(JSON.parse(message.data)));
      }
      source.addEventListener("error", () => {
        showConnection(false);
        if (source.readyState === EventSource.CLOSED) {
          retry = setTimeout(open, delay);
          delay = Math.min(delay * 2, 30000);
        }
      });
    };
    if (pauseWhenHidden) {
      document.addEventListener("visibilitychange", () => {
        if (document.hidden) {
          clearTimeout(retry);
          source?.close();
          source = null;
        } else if (!source) {
          open();
        }
      });
    }
    if (!(pauseWhenHidden && document.hidden)) open();
  }

  // --- Time open, as the server says it (pages.age_text) ---------------------

  function ageText(seconds) {
    let minutes = Math.floor(seconds / 60);
    if (minutes < 1) return "<1m";
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    const days = Math.floor(hours / 24);
    hours %= 24;
    if (days) return `${days}d ${hours}h`;
    if (hours) return `${hours}h ${String(minutes).padStart(2, "0")}m`;
    return `${minutes}m`;
  }

  function tick() {
    const now = Date.now();
    for (const time of document.querySelectorAll("time[data-since]")) {
      const since = Date.parse(time.getAttribute("datetime"));
      if (!Number.isNaN(since)) time.textContent = ageText(Math.max(0, now - since) / 1000);
    }
  }
  setInterval(tick, 10000);

  // --- Keeping focus where it was when part of the page is replaced ----------

  function keepingFocus(replace) {
    const focused = document.activeElement;
    const id = focused && focused.id;
    const rowId = focused && focused.closest && focused.closest("tr[id]")?.id;
    replace();
    if (id && document.getElementById(id)) {
      document.getElementById(id).focus();
    } else if (rowId && document.getElementById(rowId)) {
      document.getElementById(rowId).querySelector("a")?.focus();
    } else if (focused && !document.contains(focused)) {
      document.getElementById("action-status")?.focus();
    }
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // rendered and escaped by the server's templates
    return template.content.firstElementChild;
  }

  // --- The board ----------------------------------------------------------------

  function board() {
    const rows = document.getElementById("incidents");
    const summary = document.getElementById("board-summary");
    const empty = document.getElementById("board-empty");
    const more = document.getElementById("board-more");
    let hasMore = !more.hidden;
    sessionStorage.setItem("corral.board", location.pathname + location.search);

    function counted() {
      const count = rows.rows.length;
      const plus = hasMore ? "+" : "";
      summary.textContent = `${count}${plus} incident${count === 1 ? "" : "s"}`;
      empty.hidden = count > 0;
      more.hidden = !hasMore;
      document.title = `${count}${plus} · Corral incidents`;
    }

    function place(row) {
      const rank = row.dataset.rank;
      for (const other of rows.rows) {
        if (other.dataset.rank > rank) {
          rows.insertBefore(row, other);
          return;
        }
      }
      rows.appendChild(row);
    }

    function flash(row) {
      row.classList.add("changed");
      setTimeout(() => row.classList.remove("changed"), 3000);
    }

    follow(body.dataset.events, {
      snapshot(data) {
        keepingFocus(() => {
          rows.replaceChildren(...data.rows.map(fragment));
        });
        hasMore = data.more;
        counted();
        tick();
      },
      rows(data) {
        keepingFocus(() => {
          for (const { id, html } of data.rows) {
            const old = document.getElementById(`incident-${id}`);
            if (html === null) {
              old?.remove();
              continue;
            }
            const row = fragment(html);
            if (old && old.dataset.rank === row.dataset.rank) old.replaceWith(row);
            else {
              old?.remove();
              place(row);
            }
            flash(row);
          }
        });
        counted();
        tick();
      },
    });
  }

  // --- An incident's page --------------------------------------------------------

  function incident() {
    const id = body.dataset.incident;
    const status = document.getElementById("action-status");
    const actor = document.getElementById("actor");
    const back = sessionStorage.getItem("corral.board");
    if (back) for (const link of document.querySelectorAll("a[data-board-link]")) link.href = back;
    if (actor) {
      actor.value = localStorage.getItem("corral.actor") || "";
      actor.addEventListener("change", () => localStorage.setItem("corral.actor", actor.value.trim()));
    }

    function say(text, error = false) {
      status.textContent = text;
      status.classList.toggle("error", error);
    }

    let refreshing = null;
    let again = false;
    // The page fetched again, and the parts marked data-live swapped in.
    async function refresh() {
      if (refreshing) {
        again = true;
        return refreshing;
      }
      refreshing = (async () => {
        do {
          again = false;
          const response = await fetch(location.pathname, { credentials: "same-origin" });
          if (!response.ok) break;
          const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
          keepingFocus(() => {
            for (const part of fresh.querySelectorAll("[data-live][id]")) {
              document.getElementById(part.id)?.replaceWith(document.importNode(part, true));
            }
          });
          document.title = fresh.title;
          body.dataset.updated = fresh.body.dataset.updated;
          tick();
        } while (again);
      })().finally(() => {
        refreshing = null;
      });
      return refreshing;
    }

    follow(
      body.dataset.events,
      {
        hello(data) {
          if (data.updated_at !== body.dataset.updated) refresh();
        },
        changed() {
          refresh();
        },
      },
      true,
    );

    const done = {
      ack: (a) => `Acknowledged by ${a.incident.acknowledged_by}.`,
      unack: () => "Unacknowledged: escalation resumes.",
      resolve: () => "Resolved.",
      reopen: () => "Reopened.",
      escalate: () => "Escalated: the next step is paged now.",
      assign: (a) => `${a.action.person} is ${a.action.role.replaceAll("_", " ")}.`,
      notes: () => "Note added.",
      silence: (a) => `Silenced until ${a.endsAt.slice(0, 16).replace("T", " ")} UTC.`,
      verdict: () => "Verdict sent: thank you.",
    };

    function randomKey() {
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }

    async function act(form, name, button) {
      const fields = Object.fromEntries(new FormData(form));
      delete fields.action;
      for (const [key, value] of Object.entries(fields)) {
        if (typeof value === "string" && !value.trim()) delete fields[key];
      }
      if (fields.verdict?.startsWith("priority:")) {
        fields.priority = fields.verdict.slice("priority:".length);
        fields.verdict = "priority";
      }
      const request = { ...fields, source: "board" };
      if (body.dataset.authenticated !== "yes") {
        const who = actor?.value.trim();
        if (!who) {
          say("Enter your name first: it goes on the timeline.", true);
          actor?.focus();
          return;
        }
        request.actor = who;
      }
      button.disabled = true;
      say("Working…");
      try {
        const response = await fetch(`/api/v1/incidents/${encodeURIComponent(id)}/${name}`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Idempotency-Key": randomKey() },
          body: JSON.stringify(request),
        });
        const answer = await response.json().catch(() => ({}));
        if (response.status === 202) {
          say("Taken; the page shows it in a moment.");
        } else if (response.ok) {
          say(answer.repeated ? "Already done." : done[name](answer));
          form.reset();
        } else {
          say(answer.error || `HTTP ${response.status}`, true);
        }
        await refresh();
      } catch (error) {
        say(`Could not reach Corral: ${error.message}`, true);
      } finally {
        button.disabled = false;
        // A disabled button loses focus; give it back, or to the news if the
        // button went with the state it belonged to.
        if (document.activeElement === body || document.activeElement === button) {
          const same = button.id ? document.getElementById(button.id) : button;
          (same && document.contains(same) ? same : status).focus();
        }
      }
    }

    for (const form of document.querySelectorAll("form[data-form]")) {
      form.addEventListener("submit", (submitted) => {
        submitted.preventDefault();
        const button = submitted.submitter || form.querySelector("button[name=action]");
        act(form, button.value, button);
      });
    }
  }

  // --- Keys ------------------------------------------------------------------------

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("keydown", (key) => {
    if (key.ctrlKey || key.metaKey || key.altKey || typing(key.target)) return;
    const links = Array.from(document.querySelectorAll("#incidents th.title a"));
    if ((key.key === "j" || key.key === "k") && links.length) {
      const at = links.indexOf(document.activeElement);
      const next = key.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
      links[at === -1 ? 0 : next].focus();
      key.preventDefault();
    } else if (key.key === "/") {
      const filter = document.getElementById("filter-state");
      if (filter) {
        filter.focus();
        key.preventDefault();
      }
    } else if (key.key === "b" && page !== "board") {
      location.href = sessionStorage.getItem("corral.board") || "/";
    }
  });

  if (page === "board") board();
  else if (page === "incident") incident();
})();
