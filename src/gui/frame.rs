//! A software framebuffer: filled rectangles and 8x8 bitmap text, nothing
//! else. Pixels are kept in the X server's 32-bit ZPixmap order so that a
//! frame goes to the window as it is.

/// A colour, 0xRRGGBB.
pub type Rgb = u32;

/// An image of `width` x `height` pixels, 4 bytes each (B, G, R, unused:
/// little-endian 0x00RRGGBB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

/// Width and height of one glyph of the font, at scale 1.
pub const GLYPH: i32 = 8;

impl Frame {
    /// A black frame.
    pub fn new(width: u32, height: u32) -> Self {
        Frame {
            width,
            height,
            bytes: vec![0; width as usize * height as usize * 4],
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, row after row, 4 bytes each (B, G, R, 0).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Change the size; the content is undefined until the next paint.
    pub fn resize(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.bytes.resize(width as usize * height as usize * 4, 0);
    }

    /// The colour at (`x`, `y`) (0 outside the frame).
    pub fn pixel(&self, x: u32, y: u32) -> Rgb {
        if x >= self.width || y >= self.height {
            return 0;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        u32::from_le_bytes([self.bytes[i], self.bytes[i + 1], self.bytes[i + 2], 0])
    }

    /// Fill the whole frame.
    pub fn clear(&mut self, color: Rgb) {
        self.fill(0, 0, self.width as i32, self.height as i32, color);
    }

    /// Fill a rectangle, clipped to the frame.
    pub fn fill(&mut self, x: i32, y: i32, w: i32, h: i32, color: Rgb) {
        let x0 = x.clamp(0, self.width as i32) as usize;
        let x1 = (x.saturating_add(w)).clamp(0, self.width as i32) as usize;
        let y0 = y.clamp(0, self.height as i32) as usize;
        let y1 = (y.saturating_add(h)).clamp(0, self.height as i32) as usize;
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let px = color.to_le_bytes();
        let px = [px[0], px[1], px[2], 0];
        let stride = self.width as usize * 4;
        // The first row pixel by pixel, the others copied from it (a
        // memmove: the window's thread draws a whole frame in a few ms).
        let first = y0 * stride + x0 * 4..y0 * stride + x1 * 4;
        for chunk in self.bytes[first.clone()].chunks_exact_mut(4) {
            chunk.copy_from_slice(&px);
        }
        for row in y0 + 1..y1 {
            self.bytes.copy_within(first.clone(), row * stride + x0 * 4);
        }
    }

    /// A one-pixel (times `scale`) outline.
    pub fn outline(&mut self, x: i32, y: i32, w: i32, h: i32, scale: i32, color: Rgb) {
        self.fill(x, y, w, scale, color);
        self.fill(x, y + h - scale, w, scale, color);
        self.fill(x, y, scale, h, color);
        self.fill(x + w - scale, y, scale, h, color);
    }

    /// Draw `text` with its top-left corner at (`x`, `y`), each glyph
    /// `8 * scale` pixels square; characters outside ASCII are drawn as `?`.
    /// Returns the x after the last glyph.
    pub fn text(&mut self, x: i32, y: i32, scale: i32, color: Rgb, text: &str) -> i32 {
        let mut pen = x;
        for c in text.chars() {
            let code = if c.is_ascii() {
                c as usize
            } else {
                '?' as usize
            };
            let glyph = font8x8::legacy::BASIC_LEGACY[code];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.fill(
                            pen + col * scale,
                            y + row as i32 * scale,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
            pen += GLYPH * scale;
        }
        pen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_clipped_and_reads_back() {
        let mut f = Frame::new(10, 5);
        f.fill(-3, 3, 5, 10, 0x123456);
        assert_eq!(f.pixel(0, 4), 0x123456);
        assert_eq!(f.pixel(1, 3), 0x123456);
        assert_eq!(f.pixel(2, 3), 0);
        assert_eq!(f.pixel(0, 2), 0);
    }

    #[test]
    fn text_draws_inside_its_cells_only() {
        let mut f = Frame::new(40, 20);
        let end = f.text(2, 2, 2, 0xffffff, "A");
        assert_eq!(end, 2 + 16);
        let lit: Vec<(u32, u32)> = (0..20)
            .flat_map(|y| (0..40).map(move |x| (x, y)))
            .filter(|&(x, y)| f.pixel(x, y) != 0)
            .collect();
        assert!(!lit.is_empty());
        assert!(lit
            .iter()
            .all(|&(x, y)| (2..18).contains(&x) && (2..18).contains(&y)));
    }
}
