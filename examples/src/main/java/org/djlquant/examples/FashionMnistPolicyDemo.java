package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.djlquant.QuantizationException;
import org.djlquant.policy.measure.OutputSelector;

/**
 * The mixed-precision policy report on the Fashion-MNIST CNN, the quick second case of {@link
 * PolicyStudy}: the CNN is trained in FP32 (Adam, seed 42), then its two Linear layers are searched
 * (the convolutions stay FP32: the simulator and the in-place converter handle Linear layers). The
 * task metric is top-1 accuracy on the test images. Writes {@code results/policy-fashion-mnist/}:
 * the same report as the MiniLM demo (every in-place precision built for real, the cost model
 * calibrated with whole-model runs, predicted vs measured speed-up per row). The classifier (64 →
 * 10) cannot run INT4 weight-only (libtorch's INT4 kernel packs 16 output features at a time), so
 * that layer is refused INT4 and the "uniform INT4" row keeps it FP32. About 50 s of CPU (training
 * 30 s), under a minute idle.
 *
 * <p>Arguments (all optional, positional): {@code budgetPoints=0.3 trainImages=10000 epochs=2
 * testImages=10000 threads=1 rounds=21}.
 */
public final class FashionMnistPolicyDemo {

    private FashionMnistPolicyDemo() {}

    /**
     * Runs the demo.
     *
     * @param args see the class comment
     * @throws QuantizationException if the data cannot be read or a model not built
     * @throws IOException if results cannot be written
     * @throws TranslateException if training fails
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, TranslateException {
        double budget = args.length > 0 ? Double.parseDouble(args[0]) : 0.3;
        int trainN = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int epochs = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        int testN = args.length > 3 ? Integer.parseInt(args[3]) : 10_000;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 1;
        int rounds = args.length > 5 ? Integer.parseInt(args[5]) : 21;
        FashionMnist.Data data = FashionMnist.Data.load();
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed(42);
        try (NDManager m = engine.newBaseManager();
                Model trained = Model.newInstance("fmnist-fp32", "PyTorch")) {
            NDArray x = data.train(m, 0, trainN);
            NDArray y = data.trainTargets(m, 0, trainN);
            NDArray tx = data.test(m, 0, testN);
            int[] ty = Arrays.copyOf(data.testLabels().toIntArray(), testN);
            trained.setBlock(FashionMnist.cnn());
            FashionMnist.train(trained, x, y, epochs, 2e-3f, null, () -> Double.NaN);
            String note =
                    String.format(
                            Locale.ROOT,
                            "Data: Fashion-MNIST, CNN trained in FP32 on the first %d training"
                                    + " images for %d epoch(s) (Adam 2e-3, seed 42); sensitivity"
                                    + " and static calibration on training images 0-199; task"
                                    + " metric = top-1 accuracy on the first %d test images (1"
                                    + " image = %.3f points), the same images the search chooses"
                                    + " on. Only the two Linear layers are searched; the two"
                                    + " convolutions stay FP32.",
                            trainN,
                            epochs,
                            testN,
                            100.0 / testN);
            System.out.println(note);
            PolicyStudy.Case c =
                    new PolicyStudy.Case() {
                        private int models;

                        @Override
                        public Model newModel() {
                            Model model = Model.newInstance("fmnist-" + models++, "PyTorch");
                            FashionMnist.copyInto(trained.getBlock(), model);
                            return model;
                        }

                        @Override
                        public double accuracyPct(Model model) {
                            return 100 * FashionMnist.accuracy(model.getBlock(), m, tx, ty);
                        }

                        @Override
                        public void calibrate(Model prepared) {
                            // observers are on after prepare: one forward records the ranges
                            try (NDManager sub = m.newSubManager()) {
                                prepared.getBlock()
                                        .forward(
                                                new ParameterStore(sub, false),
                                                new NDList(data.train(sub, 0, 200)),
                                                false);
                            }
                        }

                        @Override
                        public List<NDList> sensitivityBatches(NDManager manager) {
                            List<NDList> out = new ArrayList<>();
                            out.add(new NDList(data.train(manager, 0, 100)));
                            out.add(new NDList(data.train(manager, 100, 200)));
                            return out;
                        }

                        @Override
                        public OutputSelector output() {
                            return OutputSelector.FIRST;
                        }

                        @Override
                        public boolean logits() {
                            return true;
                        }

                        @Override
                        public NDList speedInput(NDManager manager) {
                            return new NDList(data.test(manager, 0, 100));
                        }

                        @Override
                        public int speedItems() {
                            return 100;
                        }
                    };
            PolicyStudy.run(
                    c,
                    new PolicyStudy.Options(
                            "Fashion-MNIST CNN (DJL PyTorch)",
                            Path.of("results", "policy-fashion-mnist"),
                            budget,
                            threads,
                            3,
                            rounds,
                            true,
                            note));
        }
    }
}
