package org.djlquant.policy;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Chooses the layers a {@link PolicyRule} applies to. Immutable.
 *
 * <p>Glob syntax over dot-separated block paths: {@code *} matches any characters inside one path
 * segment (no dot), {@code **} matches any characters including dots, {@code ?} matches one
 * character other than a dot; everything else is literal and the whole path must match. So {@code
 * encoder.*.attention.*} matches {@code encoder.03.attention.query} but not {@code
 * encoder.03.attention.self.query}; {@code encoder.**.query} matches both.
 */
public sealed interface LayerSelector {

    /**
     * Returns the precedence level of this selector.
     *
     * @return the level
     */
    RuleLevel level();

    /**
     * Tells whether the selector matches a layer.
     *
     * @param layer the layer
     * @param index the layer's position in model order, from 0
     * @param count the number of layers in the model
     * @return true if the rule applies to the layer
     */
    boolean matches(LayerInfo layer, int index, int count);

    /**
     * Tells whether this selector names specific layers, so that matching none is an error (the
     * model does not have the layer) rather than a warning.
     *
     * @return true for exact paths and first / last selectors
     */
    default boolean namesLayers() {
        return level() == RuleLevel.LAYER;
    }

    /**
     * Returns a selector matching every layer.
     *
     * @return the selector
     */
    static LayerSelector all() {
        return new All();
    }

    /**
     * Returns a selector matching layers by block class name.
     *
     * @param name a simple name (matches simple and qualified class names) or a qualified name
     * @return the selector
     */
    static LayerSelector blockClass(String name) {
        return new BlockClass(name);
    }

    /**
     * Returns a selector matching block paths with a glob (see the interface comment). A glob
     * without wildcards is an exact path.
     *
     * @param glob the glob
     * @return the selector
     */
    static LayerSelector glob(String glob) {
        if (glob != null && !glob.contains("*") && !glob.contains("?")) {
            return new ExactPath(glob);
        }
        return new Glob(glob);
    }

    /**
     * Returns a selector matching block paths with a regular expression that must match the whole
     * path.
     *
     * @param regex the regular expression
     * @return the selector
     */
    static LayerSelector regex(String regex) {
        return new Regex(regex);
    }

    /**
     * Returns a selector matching exactly one block path.
     *
     * @param path the path
     * @return the selector
     */
    static LayerSelector path(String path) {
        return new ExactPath(path);
    }

    /**
     * Returns a selector matching the first {@code n} layers in model order.
     *
     * @param n how many, at least 1
     * @return the selector
     */
    static LayerSelector first(int n) {
        return new First(n);
    }

    /**
     * Returns a selector matching the last {@code n} layers in model order.
     *
     * @param n how many, at least 1
     * @return the selector
     */
    static LayerSelector last(int n) {
        return new Last(n);
    }

    /** Every layer. */
    record All() implements LayerSelector {
        @Override
        public RuleLevel level() {
            return RuleLevel.GLOBAL;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return true;
        }

        @Override
        public String toString() {
            return "all layers";
        }
    }

    /**
     * Layers of one block class.
     *
     * @param name simple or qualified class name
     */
    record BlockClass(String name) implements LayerSelector {
        /**
         * Validates the name.
         *
         * @param name simple or qualified class name
         */
        public BlockClass {
            requireText(name, "block class");
        }

        @Override
        public RuleLevel level() {
            return RuleLevel.BLOCK_CLASS;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return layer.blockClass().equals(name)
                    || (name.indexOf('.') < 0 && layer.simpleClassName().equals(name));
        }

        @Override
        public String toString() {
            return "class " + name;
        }
    }

    /**
     * Layers whose path matches a glob.
     *
     * @param glob the glob, see the interface comment
     * @param pattern the compiled form (derived)
     */
    record Glob(String glob, Pattern pattern) implements LayerSelector {
        /**
         * Compiles a glob.
         *
         * @param glob the glob
         */
        public Glob(String glob) {
            this(glob, compile(glob));
        }

        /**
         * Checks that the pattern is the glob's compiled form.
         *
         * @param glob the glob, see the interface comment
         * @param pattern the compiled form (derived)
         */
        public Glob {
            requireText(glob, "glob");
            if (!compile(glob).pattern().equals(pattern.pattern())) {
                throw new IllegalArgumentException(
                        "pattern " + pattern + " is not the compiled form of glob " + glob);
            }
        }

        private static Pattern compile(String glob) {
            requireText(glob, "glob");
            StringBuilder re = new StringBuilder();
            for (int i = 0; i < glob.length(); i++) {
                char c = glob.charAt(i);
                if (c == '*') {
                    if (i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                        re.append(".*");
                        i++;
                    } else {
                        re.append("[^.]*");
                    }
                } else if (c == '?') {
                    re.append("[^.]");
                } else {
                    re.append(Pattern.quote(String.valueOf(c)));
                }
            }
            return Pattern.compile(re.toString());
        }

        @Override
        public RuleLevel level() {
            return RuleLevel.PATH_PATTERN;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return pattern.matcher(layer.path()).matches();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Glob g && g.glob.equals(glob);
        }

        @Override
        public int hashCode() {
            return glob.hashCode();
        }

        @Override
        public String toString() {
            return "glob " + glob;
        }
    }

    /**
     * Layers whose whole path matches a regular expression.
     *
     * @param regex the expression
     * @param pattern the compiled form (derived)
     */
    record Regex(String regex, Pattern pattern) implements LayerSelector {
        /**
         * Compiles a regular expression.
         *
         * @param regex the expression
         * @throws IllegalArgumentException if it does not compile
         */
        public Regex(String regex) {
            this(regex, compile(regex));
        }

        /**
         * Checks that the pattern is the expression's compiled form.
         *
         * @param regex the expression
         * @param pattern the compiled form (derived)
         */
        public Regex {
            if (!pattern.pattern().equals(regex)) {
                throw new IllegalArgumentException(
                        "pattern " + pattern + " is not the compiled form of regex " + regex);
            }
        }

        private static Pattern compile(String regex) {
            requireText(regex, "regex");
            try {
                return Pattern.compile(regex);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(
                        "regex '" + regex + "' does not compile: " + e.getDescription(), e);
            }
        }

        @Override
        public RuleLevel level() {
            return RuleLevel.PATH_PATTERN;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return pattern.matcher(layer.path()).matches();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Regex r && r.regex.equals(regex);
        }

        @Override
        public int hashCode() {
            return regex.hashCode();
        }

        @Override
        public String toString() {
            return "regex " + regex;
        }
    }

    /**
     * One layer by its exact path.
     *
     * @param path the block path
     */
    record ExactPath(String path) implements LayerSelector {
        /**
         * Validates the path.
         *
         * @param path the block path
         */
        public ExactPath {
            requireText(path, "path");
        }

        @Override
        public RuleLevel level() {
            return RuleLevel.LAYER;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return layer.path().equals(path);
        }

        @Override
        public String toString() {
            return "layer " + path;
        }
    }

    /**
     * The first layers in model order.
     *
     * @param n how many, at least 1
     */
    record First(int n) implements LayerSelector {
        /**
         * Validates n.
         *
         * @param n how many, at least 1
         */
        public First {
            requirePositive(n, "first");
        }

        @Override
        public RuleLevel level() {
            return RuleLevel.LAYER;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return index < n;
        }

        @Override
        public String toString() {
            return "first " + n + (n == 1 ? " layer" : " layers");
        }
    }

    /**
     * The last layers in model order.
     *
     * @param n how many, at least 1
     */
    record Last(int n) implements LayerSelector {
        /**
         * Validates n.
         *
         * @param n how many, at least 1
         */
        public Last {
            requirePositive(n, "last");
        }

        @Override
        public RuleLevel level() {
            return RuleLevel.LAYER;
        }

        @Override
        public boolean matches(LayerInfo layer, int index, int count) {
            return index >= count - n;
        }

        @Override
        public String toString() {
            return "last " + n + (n == 1 ? " layer" : " layers");
        }
    }

    private static void requireText(String value, String what) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(what + " was '" + value + "', must not be blank");
        }
    }

    private static void requirePositive(int n, String what) {
        if (n < 1) {
            throw new IllegalArgumentException(what + " was " + n + ", must be at least 1");
        }
    }
}
