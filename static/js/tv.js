// The TV page: plays the room's current song in step with the server, with its lyrics.
//
// The server owns the position: `player.position` at `player.server_time`, moving one
// second per second while not paused. Every TV (and a reloaded one) computes where the
// song should be from that and its estimate of the server's clock, and steers its
// <audio> towards it, so several TVs in one room stay together. State arrives over the
// room's WebSocket; buttons go through the player API like any other client.
//
// Two things make the position wait: the interlude before a song (`starts_in`: the
// position stays 0 while every TV counts down "Up next"), and a song still separating
// (`limit`: the position never passes the end of its live stream; the TV holds with
// "getting ready" until the stream is ahead again). A song still separating is played
// from its HLS stream (hls.js, pinned in static/vendor; Safari plays HLS itself), a
// finished one from its files.
(() => {
  "use strict";

  const root = document.getElementById("tv");
  if (!root) return;
  const cfg = root.dataset;
  const $ = (id) => document.getElementById(id);

  const SEEK_AFTER = 0.3; // s off the server's position: seek (a jump, but rare)
  const NUDGE_AFTER = 0.04; // s off: speed up or slow down a little instead (inaudible)
  const SETTLED = 0.015; // s: close enough, back to normal speed
  const MAX_NUDGE = 0.05; // at most 5 % faster or slower
  const VOCAL_SEEK_AFTER = 0.15; // s between the two stems: seek the vocals
  const GUIDE_KEY = "encore.tv.vocalGuide";
  const CLOCK_RESYNC_MS = 5 * 60 * 1000; // clocks drift apart slowly

  // performance.now() never jumps when the computer's clock is corrected; Date.now() may.
  const now = () => performance.timeOrigin + performance.now();
  // Python writes microseconds; not every Date.parse reads more than milliseconds.
  const parseTime = (iso) => Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

  // --- state from the server -------------------------------------------------------------

  let player = null; // the latest `player` payload
  let queue = [];
  // One version per kind of message: a late, older message of a kind is ignored.
  const versions = { player: -1, queue: -1, room: -1 };

  // --- the server's clock ------------------------------------------------------------------
  // serverNow ≈ now() + offset. Round trips to the player API give samples as NTP does
  // (the answer was written about half-way through the trip; the shortest trip is the
  // most precise). A pushed message is a lower bound: it was written before it arrived.
  const clock = { offset: 0, rtt: Infinity, synced: false, floor: -Infinity };

  async function syncClock() {
    let best = null;
    for (let i = 0; i < 5; i++) {
      const sent = now();
      let body;
      try {
        const response = await fetch(cfg.playerUrl, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) break;
        body = await response.json();
      } catch (error) {
        break;
      }
      const received = now();
      const rtt = received - sent;
      if (!best || rtt < best.rtt) best = { rtt, offset: parseTime(body.server_time) - (sent + received) / 2 };
    }
    if (best) {
      Object.assign(clock, { offset: Math.max(best.offset, clock.floor), rtt: best.rtt, synced: true });
      clock.floor = -Infinity; // old pushes say nothing about a clock that drifted since
    }
    sync();
  }

  function clockSample(serverTime) {
    clock.floor = Math.max(clock.floor, parseTime(serverTime) - now());
    if (!clock.synced || clock.floor > clock.offset) clock.offset = clock.floor;
  }

  // Seconds since the server wrote `player`, by its clock.
  const sinceServer = () => Math.max(0, (now() + clock.offset - parseTime(player.server_time)) / 1000);

  // Where the server says the song is, now: still, during the interlude and at the end
  // of what a separating song's stream holds.
  function serverPosition() {
    if (!player || !player.entry) return 0;
    let position = player.position;
    if (!player.paused) position += Math.max(0, sinceServer() - (player.starts_in || 0));
    if (player.limit !== null && player.limit !== undefined) position = Math.min(position, Math.max(player.position, player.limit));
    return position;
  }

  // Seconds of interlude left (0: none, or over).
  function interludeLeft() {
    if (!player || !player.entry || player.paused || !player.starts_in) return 0;
    return Math.max(0, player.starts_in - sinceServer());
  }

  // The song waits for its stream to grow (the server's position stands at the limit).
  function holding() {
    if (!player || !player.entry || player.paused || interludeLeft() > 0) return false;
    if (player.limit === null || player.limit === undefined) return false;
    return serverPosition() >= Math.max(player.position, player.limit) - 0.05;
  }

  // --- audio: the instrumental, and the vocals through the guide's gain ---------------------

  const instrumental = $("tv-instrumental");
  const vocals = $("tv-vocals");
  let audio = null; // the AudioContext, made by the Start press
  let vocalGain = null;
  let started = false;
  let loadedEntry = null; // the entry whose files are in the two elements
  let loadedStems = { instrumental: null, vocals: null }; // and which files (the key it plays in)
  let keySwitches = 0; // times the stems changed under a playing entry (its key change became ready)
  let shownWords = null; // title, artist and lyrics_url of the song on screen
  let advancedFor = null; // the entry this TV asked to move on from (once)
  let seekLead = 0.05; // s: how long a seek takes here, so a seek aims where the song will be
  let seekStarted = null;
  let guide = clamp(Number(localStorage.getItem(GUIDE_KEY) ?? 0) || 0, 0, 100);

  function start() {
    audio = audio || new AudioContext();
    if (!vocalGain) {
      // Both stems go through the graph, so both reach the speakers with the same
      // latency. (An element joins a graph once: this runs once per page.)
      audio.createMediaElementSource(instrumental).connect(audio.destination);
      vocalGain = audio.createGain();
      vocalGain.gain.value = guide / 100;
      audio.createMediaElementSource(vocals).connect(vocalGain).connect(audio.destination);
    }
    audio.resume();
    started = true;
    $("tv-start").hidden = true;
    sync();
  }

  function setGuide(percent) {
    guide = clamp(Math.round(percent), 0, 100);
    localStorage.setItem(GUIDE_KEY, String(guide));
    $("tv-guide").value = String(guide);
    $("tv-guide-value").textContent = `${guide} %`;
    // A short ramp: a gain that jumps clicks.
    if (vocalGain) vocalGain.gain.setTargetAtTime(guide / 100, audio.currentTime, 0.02);
  }

  // The files to play for an entry: its stems in its key once they are rendered (the
  // entry's own urls), the song's own until then.
  // A song still separating has no files yet: its live stream plays instead (and keeps
  // playing once the files exist, so the song never restarts under the singer).
  function stemsOf(entry) {
    if (!entry) return { instrumental: null, vocals: null, stream: false };
    const own = {
      instrumental: entry.instrumental_url || entry.song.instrumental_url || null,
      vocals: entry.vocals_url || entry.song.vocals_url || null,
      stream: false,
    };
    // (Only a stream that plays: one that could not load gives way to the files.)
    const keepStream = loadedStems.stream && loadedEntry === entry.id && !entry.key_shift &&
      instrumental.readyState >= HTMLMediaElement.HAVE_METADATA;
    if ((!own.instrumental || keepStream) && entry.song.stream) {
      return { instrumental: entry.song.stream.instrumental_url, vocals: entry.song.stream.vocals_url, stream: true };
    }
    if (keepStream) return loadedStems;
    return own;
  }

  const streams = new Map(); // element -> its hls.js player, while it plays a stream
  const nativeHls = instrumental.canPlayType("application/vnd.apple.mpegurl") !== "";

  function attachStream(element, url, start) {
    if (window.Hls && window.Hls.isSupported()) {
      // No worker: the page's Content-Security-Policy allows scripts from this site only.
      const hls = new window.Hls({ enableWorker: false, startPosition: start, liveDurationInfinity: true,
        manifestLoadingMaxRetry: 6, levelLoadingMaxRetry: 6, fragLoadingMaxRetry: 6 });
      hls.on(window.Hls.Events.ERROR, (event, data) => {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
          return;
        }
        // The playlist or a segment could not be read (the network, or a separation that
        // started again into a new stream): start over on this URL in a moment, where the
        // song is then. A newer URL from the server replaces it anyway.
        setTimeout(() => {
          if (streams.get(element) !== hls) return;
          hls.destroy();
          streams.delete(element);
          attachStream(element, url, serverPosition());
        }, 1000);
      });
      hls.loadSource(url);
      hls.attachMedia(element);
      streams.set(element, hls);
    } else if (nativeHls) {
      element.src = url; // Safari
    }
  }

  function setSources(stems, start = 0) {
    loadedStems = stems;
    for (const [element, url] of [[instrumental, stems.instrumental], [vocals, stems.vocals]]) {
      element.pause();
      element.playbackRate = 1;
      const old = streams.get(element);
      if (old) {
        old.destroy();
        streams.delete(element);
      }
      if (url && stems.stream) {
        element.removeAttribute("src");
        attachStream(element, url, start);
      } else if (url) {
        element.src = url;
        element.load();
      } else {
        element.removeAttribute("src");
        element.load();
      }
    }
  }

  const hasSource = (element) => Boolean(element.getAttribute("src")) || streams.has(element) || Boolean(element.src);

  function load(entry) {
    loadedEntry = entry ? entry.id : null;
    loadedStems = { instrumental: null, vocals: null, stream: false };
    advancedFor = null; // "previous" may bring back a song this TV moved on from
    setSources(stemsOf(entry), serverPosition());
    loadLyrics(entry ? entry.song : null);
  }

  // The same entry in another key (its render finished, or the host changed it): both
  // stems change files where the song is, without a restart. The new files start at the
  // server's position (a media element takes currentTime before its metadata as where to
  // begin); the steering below does the rest, as after any seek.
  function switchStems(stems) {
    keySwitches += 1;
    const target = serverPosition() + (player.paused ? 0 : seekLead);
    setSources(stems, target);
    if (stems.stream) return; // hls.js starts at `target` itself
    instrumental.currentTime = target;
    if (vocals.src) vocals.currentTime = target;
  }

  function seekTo(position) {
    seekStarted = now();
    const target = player.paused || holding() || interludeLeft() > 0 ? position : position + seekLead;
    instrumental.currentTime = target;
    if (hasSource(vocals)) vocals.currentTime = target;
  }

  instrumental.addEventListener("seeked", () => {
    if (seekStarted !== null) seekLead = clamp((now() - seekStarted) / 1000, 0.01, 1);
    seekStarted = null;
  });

  function play(element) {
    element.play().catch((error) => {
      // Still locked (the Start press did not count): ask again.
      if (error.name === "NotAllowedError") {
        started = false;
        $("tv-start").hidden = false;
      }
    });
  }

  // Steer the two elements towards the server: called on every message and 4 times a second.
  function sync() {
    const entry = player && player.entry;
    if ((entry ? entry.id : null) !== loadedEntry) load(entry);
    else if (entry) {
      const stems = stemsOf(entry);
      if (stems.instrumental !== loadedStems.instrumental || stems.vocals !== loadedStems.vocals) switchStems(stems);
      if (wordsOf(entry.song) !== shownWords) loadLyrics(entry.song); // the host edited it
    }
    if (!entry || !started || !hasSource(instrumental) || instrumental.readyState < HTMLMediaElement.HAVE_METADATA) return;
    const target = serverPosition();

    // Paused, counting down the interlude, or waiting for the stream: still, at the target.
    if (player.paused || interludeLeft() > 0 || holding()) {
      instrumental.pause();
      vocals.pause();
      if (!instrumental.seeking && Math.abs(instrumental.currentTime - target) > 0.05) seekTo(target);
      else if (hasSource(vocals) && !vocals.seeking && Math.abs(vocals.currentTime - instrumental.currentTime) > 0.05) {
        vocals.currentTime = instrumental.currentTime; // so play starts both together
      }
      return;
    }
    // The server's song is over (the file may be a little shorter than its duration). A
    // stream's length is the song's, not what the stream holds so far.
    const end = loadedStems.stream ? (entry.song.duration || Infinity) : instrumental.duration;
    if (instrumental.ended || target >= end - 0.05) {
      advance();
      return;
    }
    const drift = instrumental.currentTime - target;
    if (!instrumental.seeking) {
      if (Math.abs(drift) > SEEK_AFTER) {
        seekTo(target);
        instrumental.playbackRate = 1;
      } else if (Math.abs(drift) > NUDGE_AFTER) {
        instrumental.playbackRate = 1 - clamp(drift / 2, -MAX_NUDGE, MAX_NUDGE);
      } else if (Math.abs(drift) < SETTLED) {
        instrumental.playbackRate = 1;
      }
    }
    if (instrumental.paused) play(instrumental);

    // The vocals follow the instrumental (not the server), the same way, more tightly.
    if (hasSource(vocals) && vocals.readyState >= HTMLMediaElement.HAVE_METADATA) {
      const apart = vocals.currentTime - instrumental.currentTime;
      if (!vocals.seeking && Math.abs(apart) > VOCAL_SEEK_AFTER) {
        vocals.currentTime = instrumental.currentTime + (instrumental.seeking ? 0 : seekLead);
      } else if (Math.abs(apart) > SETTLED) {
        vocals.playbackRate = instrumental.playbackRate - clamp(apart, -MAX_NUDGE, MAX_NUDGE);
      } else {
        vocals.playbackRate = instrumental.playbackRate;
      }
      if (vocals.paused) play(vocals);
    }
  }

  // The song ended here: ask the server for the next one, once. Two TVs ending together
  // both ask; with `entry` the server moves on only from the song it still plays.
  function advance() {
    const entry = player && player.entry;
    if (!entry || player.paused || advancedFor === entry.id || loadedEntry !== entry.id) return;
    advancedFor = entry.id;
    control("next", { entry: entry.id }).then((ok) => {
      if (!ok) setTimeout(() => { if (advancedFor === entry.id) advancedFor = null; }, 3000);
    });
  }
  // (`ended` is checked again: an event of the song before may arrive after a new one loaded.)
  instrumental.addEventListener("ended", () => { if (instrumental.ended) advance(); });
  // A file that cannot be played (gone from the disk, a broken transcode) would stall the
  // party silently: say so, the host skips it.
  instrumental.addEventListener("error", () => {
    if (instrumental.getAttribute("src")) flash("This song's instrumental cannot be played: skip it (→).");
  });
  for (const event of ["loadedmetadata", "canplay", "playing"]) instrumental.addEventListener(event, sync);
  vocals.addEventListener("loadedmetadata", sync);

  // --- lyrics ------------------------------------------------------------------------------

  let lyrics = { songId: null, mode: "none", lines: [] };
  let currentLine = -2;
  const lineList = $("tv-lines");
  const plain = $("tv-plain");
  const titleCard = $("tv-title-card");

  function showLyrics(mode) {
    lyrics.mode = mode;
    lineList.hidden = mode !== "synced";
    plain.hidden = mode !== "plain";
    titleCard.hidden = mode !== "title";
  }

  function wordsOf(song) {
    return song ? [song.title, song.artist, song.lyrics_url].join("\n") : null;
  }

  async function loadLyrics(song) {
    shownWords = wordsOf(song);
    lineList.replaceChildren();
    plain.textContent = "";
    currentLine = -2;
    lyrics = { songId: song ? song.id : null, mode: "none", lines: [] };
    if (!song) return showLyrics("none");
    $("tv-song-title").textContent = song.title || "Untitled";
    $("tv-song-artist").textContent = song.artist || "";
    showLyrics("title"); // until the words arrive, or for good when there are none
    let body = null;
    try {
      const response = await fetch(song.lyrics_url, { credentials: "same-origin" });
      if (response.ok) body = await response.json();
    } catch (error) {
      body = null;
    }
    if (lyrics.songId !== song.id || !body) return; // another song started meanwhile
    if (body.lines && body.lines.length) {
      lyrics.lines = body.lines;
      lineList.replaceChildren(...body.lines.map((line) => {
        const item = document.createElement("li");
        item.textContent = line.text || "♪";
        return item;
      }));
      showLyrics("synced");
    } else if (body.plain) {
      plain.textContent = body.plain;
      showLyrics("plain");
    }
  }

  // The last line whose time has come (-1 before the first).
  function lineAt(position) {
    let low = 0;
    let high = lyrics.lines.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (lyrics.lines[middle].t <= position) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  // What the room hears: the element's time while it plays, the server's otherwise.
  function heardPosition() {
    return started && !instrumental.paused ? instrumental.currentTime : serverPosition();
  }

  function renderLyrics() {
    requestAnimationFrame(renderLyrics);
    const position = heardPosition();
    if (lyrics.mode === "synced") {
      const index = lineAt(position);
      if (index === currentLine) return;
      currentLine = index;
      const items = lineList.children;
      for (let i = 0; i < items.length; i++) {
        items[i].classList.toggle("past", i < index);
        items[i].classList.toggle("current", i === index);
      }
      // The current line sits a third of the way down, the first ones too (moved down,
      // not left at the top under the host's controls); CSS animates the move.
      const anchor = items[Math.max(index, 0)];
      const offset = anchor ? anchor.offsetTop - lineList.parentElement.clientHeight / 3 : 0;
      lineList.style.transform = `translateY(${-offset}px)`;
    } else if (lyrics.mode === "plain") {
      // No times: scroll through the words as the song goes.
      const duration = (player && player.entry && player.entry.song.duration) || instrumental.duration || 0;
      const spare = plain.scrollHeight - plain.parentElement.clientHeight;
      const share = duration > 0 ? clamp(position / duration, 0, 1) : 0;
      plain.style.transform = `translateY(${-Math.max(0, spare) * share}px)`;
    }
  }

  // Lines move when the window does: place the current one again.
  window.addEventListener("resize", () => { currentLine = -2; });

  // --- what the room reads -----------------------------------------------------------------

  const describe = (entry) => {
    const song = entry.song;
    return `${entry.singer.name} — ${song.title || "Untitled"}${song.artist ? ` (${song.artist})` : ""}`;
  };

  // "Key +2 · B minor"; the song's own key ("Key: A minor") at 0; "" when nothing is known.
  function keyText(entry) {
    if (!entry) return "";
    const shift = entry.key_shift || 0;
    const name = entry.key_name || entry.song.key || "";
    if (!shift) return name ? `Key: ${name}` : "";
    const label = shift > 0 ? `+${shift}` : `−${-shift}`;
    return `Key ${label}${name ? ` · ${name}` : ""}`;
  }

  function keyNote(entry) {
    if (!entry || !entry.key_shift || entry.key_ready) return "";
    return entry.key_status === "failed" ? "Key change failed: original key" : "Key change not ready yet: original key";
  }

  // "about 40 s", "about 2 min"
  function about(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return seconds < 90 ? `about ${Math.max(1, Math.round(seconds))} s` : `about ${Math.round(seconds / 60)} min`;
  }

  function nextText(next) {
    if (!next) return "";
    if (!next.getting_ready) return describe(next);
    const eta = about(next.ready_in_seconds);
    return `${describe(next)} — getting ready${eta ? ` (${eta})` : ""}`;
  }

  function renderInfo() {
    const entry = player && player.entry;
    const next = player && player.up_next;
    $("tv-key").textContent = keyText(entry);
    $("tv-key-note").textContent = keyNote(entry);
    const left = interludeLeft();
    const mode = !entry ? "idle" : player.paused ? "paused" : left > 0 ? "interlude" : holding() ? "holding" : "playing";
    for (const name of ["idle", "paused", "interlude", "holding", "playing"]) root.classList.toggle(`tv-${name}-mode`, mode === name);
    root.dataset.entry = entry ? String(entry.id) : "";
    root.dataset.mode = mode;

    $("tv-now").textContent = entry ? describe(entry) : "";
    $("tv-next").textContent = next ? `Up next: ${nextText(next)}` : "";
    const card = {
      idle: [next ? (next.getting_ready ? "Getting ready" : "Next up") : "Nobody is queued yet", next ? nextText(next) : "",
        `Queue a song from your phone: ${cfg.joinUrl}`],
      paused: ["Paused", entry ? describe(entry) : "", next ? `Up next: ${nextText(next)}` : ""],
      interlude: ["Up next — get ready!", entry ? describe(entry) : "", `Starts in ${Math.ceil(left)}`],
      holding: ["Getting ready…", entry ? describe(entry) : "",
        entry && entry.song.playable_in_seconds ? `The rest of the song is on its way (${about(entry.song.playable_in_seconds)})`
          : "The rest of the song is on its way"],
      playing: ["", entry ? describe(entry) : "", next ? `Up next: ${nextText(next)}` : ""],
    }[mode];
    $("tv-card-state").textContent = card[0];
    $("tv-card-now").textContent = card[1];
    $("tv-card-next").textContent = card[2];
    $("tv-play").textContent = mode === "playing" || mode === "holding" ? "Pause" : mode === "interlude" ? "Start now" : "Play";
  }

  function applyPlayer(payload) {
    player = payload;
    if (payload.server_time) clockSample(payload.server_time);
    renderInfo();
    sync();
  }

  // --- the WebSocket -----------------------------------------------------------------------

  let socket = null;
  let failures = 0;

  function fresh(kind, version) {
    if (version < versions[kind]) return false;
    versions[kind] = version;
    return true;
  }

  function receive(message) {
    switch (message.type) {
      case "state": // the whole room, on every (re)connect: it replaces everything
        versions.player = versions.queue = versions.room = message.version;
        queue = message.queue;
        applyPlayer(message.player);
        break;
      case "player.state":
        if (fresh("player", message.version)) applyPlayer(message.player);
        break;
      case "queue.changed":
        if (fresh("queue", message.version)) queue = message.queue;
        break;
      case "room.changed":
        fresh("room", message.version);
        break;
    }
  }

  function setStatus(text) {
    $("tv-status").textContent = text;
    root.classList.toggle("tv-offline", Boolean(text));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${cfg.wsPath}`);
    socket.addEventListener("open", () => {
      failures = 0;
      setStatus("");
    });
    socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      setStatus("Reconnecting…");
      failures += 1;
      // Backoff with jitter, so TVs do not all knock at once after a restart of the server.
      const delay = Math.min(15000, 500 * 2 ** Math.min(failures, 5)) * (0.75 + Math.random() / 2);
      if (event.code === 4403 || event.code === 4404) {
        // Signed out, or the room is gone: the page itself says so (sign-in, or a 404).
        setTimeout(() => location.reload(), Math.max(delay, 5000));
        return;
      }
      setTimeout(connect, delay);
    });
  }

  // --- buttons and keys --------------------------------------------------------------------

  function csrfToken() {
    const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
    return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : cfg.csrf;
  }

  async function control(action, extra = {}) {
    let response;
    try {
      response = await fetch(cfg.playerUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ action, ...extra }),
      });
    } catch (error) {
      flash("The server cannot be reached.");
      return false;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      flash(body.message || `The server answered ${response.status}.`);
      return false;
    }
    // The push over the WebSocket carries the change (with its version); without a
    // socket the answer is all this TV will hear.
    if (!socket || socket.readyState !== WebSocket.OPEN) applyPlayer(body);
    return true;
  }

  let flashTimer = null;
  function flash(text) {
    setStatus(text);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => setStatus(socket && socket.readyState === WebSocket.OPEN ? "" : "Reconnecting…"), 4000);
  }

  function togglePlay() {
    if (!player || !player.entry) return control("play"); // starts the next song
    if (interludeLeft() > 0) return control("play"); // the interlude ends now
    return control(player.paused ? "play" : "pause");
  }

  function skip() {
    if (player && player.entry) control("skip", { entry: player.entry.id });
  }

  // The song before plays again from its start (with nothing before it, this one
  // restarts); the server puts the current song back at the front of the queue.
  function previous() {
    control("previous");
  }

  function fullScreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else document.documentElement.requestFullscreen().catch(() => {});
  }

  $("tv-start-button").addEventListener("click", () => {
    start();
    fullScreen();
  });
  $("tv-play").addEventListener("click", togglePlay);
  $("tv-skip").addEventListener("click", skip);
  $("tv-previous").addEventListener("click", previous);
  $("tv-fullscreen").addEventListener("click", fullScreen);
  $("tv-guide").addEventListener("input", (event) => setGuide(Number(event.target.value)));

  // Keys of a remote or keyboard. Space, ← and → act on the TV wherever the focus is, so a
  // focused button is never pressed a second time by the same key.
  document.addEventListener("keydown", (event) => {
    if (!started || event.ctrlKey || event.metaKey || event.altKey) return;
    const onSlider = event.target === $("tv-guide");
    if (event.key === " ") togglePlay();
    else if (event.key === "ArrowRight" && !onSlider) skip();
    else if (event.key === "ArrowLeft" && !onSlider) previous();
    else if (event.key === "ArrowUp" && !onSlider) setGuide(guide + 10);
    else if (event.key === "ArrowDown" && !onSlider) setGuide(guide - 10);
    else if (event.key === "f") fullScreen();
    else return;
    event.preventDefault();
  }, true);

  // The controls show while someone moves the mouse or presses a key, then fade away.
  let idleTimer = null;
  function wake() {
    root.classList.add("tv-awake");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => root.classList.remove("tv-awake"), 4000);
  }
  for (const event of ["mousemove", "keydown", "touchstart"]) document.addEventListener(event, wake, { passive: true });

  // For tests and for whoever debugs a TV from the console.
  window.encoreTv = {
    get started() { return started; },
    get entry() { return loadedEntry; },
    get instrumentalSrc() { return instrumental.getAttribute("src"); },
    get vocalsSrc() { return vocals.getAttribute("src"); },
    get keySwitches() { return keySwitches; },
    get keyText() { return `${$("tv-key").textContent}|${$("tv-key-note").textContent}`; },
    get position() { return instrumental.currentTime; },
    get streaming() { return loadedStems.stream; },
    get mode() { return root.dataset.mode; },
    get interludeLeft() { return interludeLeft(); },
    get holding() { return holding(); },
    get vocalsPosition() { return vocals.currentTime; },
    get vocalGain() { return vocalGain ? vocalGain.gain.value : null; },
    get guide() { return guide; },
    get clock() { return { ...clock }; },
    get currentLine() { return currentLine; },
    get audioState() { return audio ? audio.state : null; },
    serverPosition,
    // Cut the WebSocket as a network would (it reconnects by itself).
    dropConnection() { if (socket) socket.close(); },
    // Both positions at one instant, with the page's wall clock to compare two TVs.
    snapshot() {
      return { position: instrumental.currentTime, server: serverPosition(), at: Date.now(), paused: instrumental.paused };
    },
  };

  setGuide(guide);
  renderInfo();
  requestAnimationFrame(renderLyrics);
  connect();
  syncClock();
  setInterval(syncClock, CLOCK_RESYNC_MS);
  setInterval(sync, 250);
  setInterval(renderInfo, 250); // the interlude's countdown, and a hold that begins between messages

  // A TV allowed to play without a press (a kiosk started with an autoplay flag) can
  // skip the Start button: ?autostart=1.
  if (new URLSearchParams(location.search).has("autostart")) {
    audio = new AudioContext();
    if (audio.state === "running") start();
  }
})();
