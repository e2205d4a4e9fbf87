// Open the built site from its folder (file://) in a real headless Chromium and check what a reader sees:
// the tutorial's figure is loaded, the navigation leads to the pages, and search answers.
//
//   mkdocs build --strict --site-dir /tmp/site
//   npm install @sparticuz/chromium puppeteer-core     # a Chromium in an npm package: no browser download
//   node docs/check_site.mjs /tmp/site
//
// Not part of the test suite (it needs Node and a browser); .ci/run builds the site with --strict.
import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";
const site = process.argv[2];
const browser = await puppeteer.launch({
  args: [...chromium.args, "--allow-file-access-from-files"],
  executablePath: await chromium.executablePath(),
  headless: true,
});
const page = await browser.newPage();
await page.setViewport({ width: 1400, height: 1000 });
await page.goto(`file://${site}/tutorial.html`, { waitUntil: "networkidle0" });
const img = await page.$eval('img[src$="sort-slice-vs-folding.png"]', (el) => [el.complete, el.naturalWidth, el.naturalHeight]);
console.log("tutorial figure loaded (complete, width, height):", JSON.stringify(img));
await page.screenshot({ path: "./tutorial.png" });
const nav = await page.$$eval("nav.md-nav--primary a.md-nav__link", (els) => els.map((e) => e.getAttribute("href")).filter(Boolean));
console.log("navigation links:", nav.length);
// follow the navigation: click the API reference link and check the page
const ref = nav.find((h) => h.includes("reference/sortslice.html"));
await Promise.all([page.waitForNavigation({ waitUntil: "networkidle0" }), page.click(`nav.md-nav--primary a[href="${ref}"]`)]);
console.log("after clicking the nav link:", page.url().slice(`file://${site}/`.length), "-", await page.title());
// search: type into the search box and read the results
await page.goto(`file://${site}/index.html`, { waitUntil: "networkidle0" });
await page.click('label[for="__search"]').catch(() => {});
await page.focus("input.md-search__input");
await page.keyboard.type("prevalence");
await page.waitForSelector(".md-search-result__item", { timeout: 20000 });
await new Promise((resolve) => setTimeout(resolve, 1500)); // the results of the whole word, not of its first letters
const results = await page.$$eval(".md-search-result__item", (els) => els.slice(0, 5).map((e) => e.innerText.split("\n")[0]));
const meta = await page.$eval(".md-search-result__meta", (e) => e.innerText);
console.log("search 'prevalence':", meta, "|", JSON.stringify(results));
await page.screenshot({ path: "./search.png" });
await browser.close();
