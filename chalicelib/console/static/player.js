// Video proofs played in the page: ask the API for a short-lived presigned GET (`…/play`: the 720p variant
// once it exists, else the original) and hand that URL to an HTML5 <video>. The browser streams it with
// Range requests: the file is never fetched into JavaScript's memory.
import { api } from "./api.js";
import { h } from "./ui.js";

/** A <video controls preload="metadata"> for a /play answer ({url, poster_url, variant, content_type}). */
export function videoElement(play, label) {
  const video = h("video", {
    controls: true,
    preload: "metadata",
    playsinline: true,
    poster: play.poster_url || null,
    "aria-label": label,
    "data-variant": play.variant,
    class: "player",
  });
  video.append(h("source", { src: play.url, type: play.content_type }));
  return video;
}

/**
 * Fill `box` with a player for the video at `playPath` (an API path ending in /play) and a download link
 * for the original (`downloadPath`). Resolves with the <video>, or rejects with the API's error.
 */
export async function showPlayer(box, { playPath, downloadPath, filename, onError }) {
  const play = await api("GET", playPath);
  const video = videoElement(play, `Play ${filename}`);
  const note = h("p", { class: "muted small" }, play.variant === "720p" ? "Playing the 720p version." : "Playing the original (no 720p version yet).");
  const download = h("button", { type: "button", class: "btn secondary small" }, "Download original");
  download.addEventListener("click", async () => {
    try {
      const link = await api("GET", downloadPath); // a fresh link: it expires in minutes
      window.location.assign(link.url);
    } catch (err) {
      if (onError) onError(err, "download the original");
    }
  });
  box.replaceChildren(video, h("div", { class: "actions" }, note, download));
  return video;
}
