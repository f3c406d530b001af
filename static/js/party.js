// The party pages (singer and host): the newest fragment wins, and the host's drag and drop.

// Every fragment of a room carries the room version it was drawn from (data-version).
// Pushes can arrive out of order (two changes commit at once in two processes, or an
// HTTP answer lands after the push of a later change), so a fragment older than the
// one on the page is dropped. Per fragment, not per page: a late queue.changed must
// still replace the queue even if a newer room.changed already updated the header.
// (Comparing here rather than in the consumer: only the page knows what it shows.)
document.addEventListener("htmx:oobBeforeSwap", (event) => {
  const current = event.detail.target;
  const incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
  if (!current || !incoming) return;
  // The host is typing in a card that pushes redraw (a reason to deny a song request,
  // while progress ticks of the approved ones arrive): swapping it now would throw away
  // what they typed. Keep the newest copy; it goes in once they have left the card.
  if (current.matches("[data-hold-while-typing]") && current.contains(document.activeElement) &&
      document.activeElement.matches("input, textarea")) {
    const pending = incoming.cloneNode(true);
    pending.removeAttribute("hx-swap-oob");
    current._pendingSwap = pending.outerHTML;
    event.detail.shouldSwap = false;
    return;
  }
  if (!("version" in current.dataset) || !("version" in incoming.dataset)) return;
  if (Number(incoming.dataset.version) < Number(current.dataset.version)) {
    event.detail.shouldSwap = false;
    return;
  }
  // A settings form of the same version says nothing new (it is the push of this host's
  // own save, whose answer is already here with its "Settings saved.").
  if (current.matches("form.settings") && Number(incoming.dataset.version) === Number(current.dataset.version)) {
    event.detail.shouldSwap = false;
    return;
  }
  // The host is editing the settings form (it has the focus, or unsaved changes) while
  // another host's save arrives (room.changed): swapping it now would throw away what
  // this host typed. Keep the newest copy; it goes in when they leave the form unchanged
  // (their own Save answers with a fresh form anyway, so the last save wins).
  if (current.matches("form.settings") && (current.contains(document.activeElement) || current.dataset.dirty)) {
    const pending = incoming.cloneNode(true);
    pending.removeAttribute("hx-swap-oob");
    current._pendingSwap = pending.outerHTML;
    event.detail.shouldSwap = false;
    return;
  }
  // The host is dragging an entry: replacing the list now would pull it from under the
  // pointer. Keep the newest copy and swap it in when the drag ends.
  if (current.querySelector(".sortable-chosen")) {
    current._pendingSwap = incoming.outerHTML;
    event.detail.shouldSwap = false;
  }
});

for (const type of ["input", "change"]) {
  document.addEventListener(type, (event) => {
    const form = event.target.closest && event.target.closest("form.settings");
    if (form) form.dataset.dirty = "1";
  });
}
document.addEventListener("focusout", (event) => {
  const form = event.target.closest && event.target.closest("form.settings");
  if (!form || !form._pendingSwap || form.dataset.dirty || form.contains(event.relatedTarget)) return;
  htmx.swap(form, form._pendingSwap, { swapStyle: "outerHTML" });
});

document.addEventListener("focusout", (event) => {
  const card = event.target.closest && event.target.closest("[data-hold-while-typing]");
  if (!card || !card._pendingSwap || card.contains(event.relatedTarget)) return;
  // A little later: the focus may have left for a button of the card (Safari does not
  // focus a clicked button), whose request then answers with a fresh card anyway.
  setTimeout(() => {
    if (!card.isConnected || card.contains(document.activeElement) || card.querySelector(".htmx-request")) return;
    htmx.swap(card, card._pendingSwap, { swapStyle: "outerHTML" });
  }, 300);
});

// "No song matches": the offer to search YouTube for the same words runs that search
// in place (the link itself is the way without JavaScript).
document.addEventListener("click", (event) => {
  const offer = event.target.closest && event.target.closest("[data-youtube-search]");
  const section = document.getElementById("search-youtube");
  const box = section && section.querySelector("input[type=search]");
  if (!offer || !box) return;
  event.preventDefault();
  box.value = offer.dataset.youtubeSearch;
  box.form.requestSubmit();
  section.scrollIntoView({ block: "start" });
  box.focus({ preventScroll: true });
});

function partySortable(list) {
  if (list._sortable || typeof Sortable === "undefined") return;
  list._sortable = Sortable.create(list, {
    handle: ".drag-handle",
    draggable: ".queue-entry",
    animation: 120,
    onEnd(event) {
      const section = list.closest("[data-version]");
      const moved = event.oldDraggableIndex !== event.newDraggableIndex;
      if (moved) {
        // The answer is the host's queue as the server now orders it.
        htmx.ajax("POST", list.dataset.moveUrl, {
          target: list.dataset.target,
          swap: "outerHTML",
          source: list,
          values: { entry: event.item.dataset.entryId, position: event.newDraggableIndex },
        });
      } else if (section && section._pendingSwap) {
        htmx.swap(section, section._pendingSwap, { swapStyle: "outerHTML" });
      }
    },
  });
}

htmx.onLoad((root) => {
  const lists = root.matches && root.matches("ol.sortable") ? [root] : root.querySelectorAll("ol.sortable");
  lists.forEach(partySortable);
});

// The key stepper of an Add form (_key_stepper.html without a url): ♭ and ♯ step its
// hidden key_shift between data-low and data-high, shown as "+2" (a real minus below 0).
// (The steppers of "My songs" and the host's console post each step instead.)
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("[data-key-step]");
  const stepper = button && button.closest("[data-key-stepper]");
  if (!stepper) return;
  const input = stepper.querySelector("input[name=key_shift]");
  const low = Number(stepper.dataset.low);
  const high = Number(stepper.dataset.high);
  const value = Math.min(high, Math.max(low, Number(input.value || 0) + Number(button.dataset.keyStep)));
  input.value = String(value);
  stepper.querySelector("output").textContent = value > 0 ? `+${value}` : value < 0 ? `−${-value}` : "0";
  stepper.querySelector("[data-key-step='-1']").disabled = value <= low;
  stepper.querySelector("[data-key-step='1']").disabled = value >= high;
});

// A countdown a fragment carries (data-countdown="8": seconds when it was drawn): it
// counts down here, between pushes, and then says data-countdown-done.
setInterval(() => {
  for (const element of document.querySelectorAll("[data-countdown]")) {
    if (!element._countdownFrom) element._countdownFrom = Date.now();
    const left = Math.ceil(Number(element.dataset.countdown) - (Date.now() - element._countdownFrom) / 1000);
    element.textContent = left > 0 ? `starts in ${left} s` : element.dataset.countdownDone || "";
  }
}, 500);
