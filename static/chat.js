// The sidebar chat's scroll keeper and Escape key (installed once per page by pages/lib/chat.py):
// follow the bottom of the thread unless the user scrolled up, then offer "New messages ↓".
(function () {
  if (window.__omaChatHook) return;
  window.__omaChatHook = true;
  const doc = window.document;
  const btn = doc.createElement("button");
  btn.className = "oma-newmsg";
  btn.type = "button";
  btn.textContent = "New messages ↓";
  doc.body.appendChild(btn);
  // stick: follow the bottom (until the user scrolls up); lastId: newest message seen.
  let box = null, stick = true, lastId = null;
  function findBox() {
    let node = doc.querySelector(".st-key-oma_thread");
    for (let i = 0; node && i < 5; i++, node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowY;
      if (overflow === "auto" || overflow === "scroll") return node;
    }
    return null;
  }
  function nearBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }
  function toBottom() {
    if (box) box.scrollTop = box.scrollHeight;
    stick = true;
    btn.classList.remove("oma-show");
  }
  btn.addEventListener("click", toBottom);
  function onScroll() {
    stick = nearBottom();
    if (stick) btn.classList.remove("oma-show");
  }
  setInterval(function () {
    const found = findBox();
    if (found !== box) {
      if (box) box.removeEventListener("scroll", onScroll);
      box = found; lastId = null; stick = true;
      if (box) box.addEventListener("scroll", onScroll);
    }
    if (!box) { btn.classList.remove("oma-show"); return; }
    const items = box.querySelectorAll("[data-id]");
    const last = items.length ? items[items.length - 1].getAttribute("data-id") : null;
    if (last !== lastId && lastId !== null && !stick) btn.classList.add("oma-show");
    lastId = last;
    if (stick && !nearBottom()) box.scrollTop = box.scrollHeight;
  }, 150);
  doc.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    // An open dropdown or popover takes Escape for itself.
    if (doc.querySelector('[data-baseweb="popover"], [role="dialog"]')) return;
    const close = doc.querySelector(".st-key-oma_chat_close button");
    if (close) { event.preventDefault(); close.click(); }
  }, true);
})();
