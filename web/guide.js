// @ts-check
// The embedding guide (www/embed-guide.html): its examples name the site that serves it.
// `cargo xtask build-web --out DIR --base-url URL` writes that address into the page; where
// it did not, each empty <span data-site-url> gets this page's folder (the site's root:
// https://you.github.io/samplescope/ on a GitHub Pages project site, not just the origin).

const site = new URL('./', location.href).href;
for (const el of document.querySelectorAll('[data-site-url]')) if (!el.textContent) el.textContent = site;
