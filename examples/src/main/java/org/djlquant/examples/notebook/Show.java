package org.djlquant.examples.notebook;

import java.awt.image.BufferedImage;
import java.awt.image.RenderedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Objects;
import java.util.function.Consumer;
import javax.imageio.ImageIO;

/**
 * The display convention of the project's notebooks: a cell that shows a chart ends with the
 * expression {@code Show.png(image)} (or {@code Show.png(path)}). The value is a {@link
 * BufferedImage}; the project's kernel {@link DjlqKernel} sends it to Jupyter as an {@code
 * image/png} result (the IJava and JJava kernels render a {@code BufferedImage} that ends a cell
 * the same way), and {@link NotebookRunner} records the same {@code image/png} output, so the
 * committed notebook shows what the kernel shows.
 *
 * <p>Thread-safe; the recording hook is installed only while {@link NotebookRunner} executes a
 * cell.
 */
public final class Show {

    private static volatile Consumer<BufferedImage> sink;

    private Show() {}

    /**
     * Returns an image for inline display (put it as the last expression of the cell).
     *
     * @param image the image
     * @return the same image as a {@link BufferedImage}
     */
    public static BufferedImage png(RenderedImage image) {
        Objects.requireNonNull(image, "image");
        BufferedImage b;
        if (image instanceof BufferedImage bi) {
            b = bi;
        } else {
            b = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_ARGB);
            b.setData(image.getData());
        }
        Consumer<BufferedImage> s = sink;
        if (s != null) {
            s.accept(b);
        }
        return b;
    }

    /**
     * Reads a PNG (or any format ImageIO reads) and returns it for inline display.
     *
     * @param file the image file
     * @return the image
     * @throws UncheckedIOException if the file cannot be read
     * @throws IllegalArgumentException if the file is not an image
     */
    public static BufferedImage png(Path file) {
        try {
            BufferedImage image = ImageIO.read(Files.newInputStream(file));
            if (image == null) {
                throw new IllegalArgumentException(
                        "file " + file + " is not an image ImageIO can read (PNG, JPEG, GIF, BMP)");
            }
            return png(image);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read image " + file, e);
        }
    }

    /**
     * Encodes an image as PNG in base64, the form of an {@code image/png} entry of a Jupyter MIME
     * bundle.
     *
     * @param image the image
     * @return the base64 text
     */
    static String base64Png(BufferedImage image) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try {
            ImageIO.write(image, "png", png);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode a " + describe(image), e);
        }
        return Base64.getEncoder().encodeToString(png.toByteArray());
    }

    /**
     * Returns the {@code text/plain} companion of an image's {@code image/png} entry.
     *
     * @param image the image
     * @return for example {@code BufferedImage 640x400 (image/png)}
     */
    static String describe(BufferedImage image) {
        return "BufferedImage " + image.getWidth() + "x" + image.getHeight() + " (image/png)";
    }

    static void setSink(Consumer<BufferedImage> newSink) {
        sink = newSink;
    }
}
