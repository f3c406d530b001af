// Small behaviour shared by the Library, Jobs and party pages (loaded after htmx, deferred).

// htmx leaves 4xx answers unswapped by default. Encore's views answer a refusal
// with the fragment that explains it (the row with its error, an inline message
// under a form), so those are swapped like any answer. So is a 503: Encore's views
// answer it when something outside (YouTube) cannot be reached, with a message
// saying so. Other 5xx stay unswapped.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if ((status >= 400 && status < 500) || status === 503) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// A new row an answer adds to a list (a wrapper marked data-new-row) may already be there:
// the live socket can push the row before the answer that created it arrives. Then the
// row is swapped by its id rather than added a second time.
document.addEventListener("htmx:beforeSwap", (event) => {
  const text = event.detail.serverResponse;
  if (typeof text !== "string" || !text.includes("data-new-row")) return;
  const template = document.createElement("template");
  template.innerHTML = text;
  let changed = false;
  for (const wrapper of template.content.querySelectorAll("[data-new-row]")) {
    const row = wrapper.firstElementChild;
    if (row && row.id && document.getElementById(row.id)) {
      row.setAttribute("hx-swap-oob", "true");
      wrapper.replaceWith(row);
      changed = true;
    }
  }
  if (changed) event.detail.serverResponse = template.innerHTML;
});

// The pages run no inline script and no eval (the Content-Security-Policy forbids both),
// so what an onsubmit="..." or an hx-trigger filter ("input[...]") did is done here.

// A form with data-confirm="question?" is sent only if the user says yes.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// An input with data-min-length="3" sends nothing as the user types until it holds that
// many characters (a submit of its form still goes, and the form's `required` speaks).
document.addEventListener("htmx:confirm", (event) => {
  const elt = event.detail.elt;
  const trigger = event.detail.triggeringEvent;
  if (!elt.dataset || !elt.dataset.minLength || !trigger || trigger.type !== "input") return;
  if (elt.value.trim().length < Number(elt.dataset.minLength)) event.preventDefault();
});

// A form marked data-reset-on-success is emptied once its request succeeded.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (form instanceof HTMLFormElement && "resetOnSuccess" in form.dataset && event.detail.xhr.status < 300) {
    form.reset();
  }
});

// "encore-push": the pages' HTML WebSockets (hx-ext="ws,encore-push" ws-connect=...).
// Each message is elements that htmx swaps out of band by their id. htmx logs an error
// for one whose target the page does not show (a song outside the search, a job the page
// has not drawn); here such an element is dropped instead, or, if it is a whole row and
// the socket's element says where new rows go (data-new-rows="afterbegin:#job-list"),
// put there.
htmx.defineExtension("encore-push", {
  transformResponse: function (text, xhr, elt) {
    if (xhr) return text; // an ordinary HTMX answer: untouched
    const template = document.createElement("template");
    template.innerHTML = text;
    // Where new rows go: said by the socket's element, or by the list it feeds
    // (data-new-rows-from: the Library's list says it only while unfiltered).
    const from = elt && elt.getAttribute("data-new-rows-from");
    const source = from ? document.querySelector(from) : elt;
    const newRows = source && source.getAttribute("data-new-rows");
    for (const part of Array.from(template.content.children)) {
      const oob = part.getAttribute("hx-swap-oob") || "true";
      if (oob.includes(":") || !part.id || document.getElementById(part.id)) continue;
      if (newRows && oob === "true" && part.classList.contains("row-item")) {
        const wrapper = document.createElement("div");
        wrapper.setAttribute("hx-swap-oob", newRows);
        part.replaceWith(wrapper);
        part.removeAttribute("hx-swap-oob");
        wrapper.appendChild(part);
      } else {
        part.remove();
      }
    }
    return template.innerHTML;
  },
});
