/** The PNG of a chart, rendered from its SVG by resvg, for places that show images but not SVG. */
import { Resvg } from '@resvg/resvg-js';

/** `svg` rendered at its own size on the system's fonts (the charts ask for sans-serif). */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}
