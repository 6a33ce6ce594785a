package org.djlquant.examples.dropin;

import ai.djl.modality.cv.Image;
import ai.djl.modality.cv.ImageFactory;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.djlquant.QuantizationException;
import org.djlquant.calibrate.IdxReader;

/**
 * Fashion-MNIST for the drop-in app, as the app meets it: requests are 28x28 grayscale {@link
 * Image}s (made from the IDX files that {@code scripts/fetch-data.sh} installs); the training job
 * reads pixels as arrays. Immutable.
 */
public final class FashionData {

    private final IdxReader.IdxArray trainImages;
    private final IdxReader.IdxArray trainLabels;
    private final IdxReader.IdxArray testImages;
    private final int[] testLabels;

    private FashionData(
            IdxReader.IdxArray trainImages,
            IdxReader.IdxArray trainLabels,
            IdxReader.IdxArray testImages,
            int[] testLabels) {
        this.trainImages = trainImages;
        this.trainLabels = trainLabels;
        this.testImages = testImages;
        this.testLabels = testLabels;
    }

    /**
     * Reads the four IDX files from {@link IdxReader#fashionMnistDir()}.
     *
     * @return the data
     * @throws QuantizationException if a file is missing or malformed
     */
    public static FashionData load() throws QuantizationException {
        Path dir = IdxReader.fashionMnistDir();
        return new FashionData(
                IdxReader.read(dir.resolve("train-images-idx3-ubyte.gz")),
                IdxReader.read(dir.resolve("train-labels-idx1-ubyte.gz")),
                IdxReader.read(dir.resolve("t10k-images-idx3-ubyte.gz")),
                IdxReader.read(dir.resolve("t10k-labels-idx1-ubyte.gz")).toIntArray());
    }

    /**
     * Test images {@code [from, to)} as the app receives them.
     *
     * @param from the first index
     * @param to the end index (exclusive), at most 10000
     * @return the images
     */
    public List<Image> testImages(int from, int to) {
        return images(testImages, from, to);
    }

    /**
     * Training images {@code [from, to)} as images (traffic that is not in the test set).
     *
     * @param from the first index
     * @param to the end index (exclusive), at most 60000
     * @return the images
     */
    public List<Image> trainImages(int from, int to) {
        return images(trainImages, from, to);
    }

    /**
     * Test labels {@code [from, to)}.
     *
     * @param from the first index
     * @param to the end index (exclusive)
     * @return the labels, 0-9
     */
    public int[] testLabels(int from, int to) {
        return Arrays.copyOfRange(testLabels, from, to);
    }

    NDArray trainPixels(NDManager manager, int from, int to) {
        return trainImages.toNDArray(manager, from, to, 255f, true);
    }

    NDArray trainLabels(NDManager manager, int from, int to) {
        return trainLabels.toNDArray(manager, from, to, 1f, false);
    }

    private static List<Image> images(IdxReader.IdxArray idx, int from, int to) {
        int n = (int) idx.shape()[0];
        if (from < 0 || to > n || from >= to) {
            throw new IllegalArgumentException(
                    "range was [" + from + ", " + to + "), must be within [0, " + n + ")");
        }
        List<Image> out = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            BufferedImage b = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            byte[] pixels = ((DataBufferByte) b.getRaster().getDataBuffer()).getData();
            System.arraycopy(idx.data(), i * 784, pixels, 0, 784);
            out.add(ImageFactory.getInstance().fromImage(b));
        }
        return out;
    }
}
