package org.djlquant.config;

import ai.djl.nn.Block;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Which {@link QConfig} each layer gets, with precedence <em>global &lt; block class &lt; block
 * path pattern</em>. A rule whose config is {@code null} keeps the matching layers FP32.
 *
 * <p>Block paths are dot-separated child names, e.g. {@code 01SequentialBlock.02Linear} (DJL's own
 * child names, "raw") or {@code encoder.03.attention.query} ("clean": DJL's two-digit prefix
 * dropped from named children, the number kept for children DJL named after their class). Patterns
 * are tried against both forms. A path rule also applies to every descendant of the block it
 * matches; when several path rules match, the one matching the longest path wins, then the one
 * added last. A class rule applies to the class and its subclasses; the nearest superclass wins.
 *
 * <p>Globs: {@code *} matches within one segment, {@code **} across segments, {@code ?} one
 * character. Regexes must match the whole path. Instances are immutable and thread-safe.
 */
public final class QConfigMapping {

    private final boolean hasGlobal;
    private final QConfig global;
    private final Map<Class<? extends Block>, QConfig> classRules;
    private final List<PathRule> pathRules;

    private QConfigMapping(Builder b) {
        hasGlobal = b.hasGlobal;
        global = b.global;
        classRules = Collections.unmodifiableMap(new LinkedHashMap<>(b.classRules));
        pathRules = List.copyOf(b.pathRules);
    }

    /**
     * Returns a new builder.
     *
     * @return an empty builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A mapping giving every layer the same config.
     *
     * @param global the config
     * @return the mapping
     */
    public static QConfigMapping global(QConfig global) {
        return builder().optGlobal(global).build();
    }

    /**
     * Returns the class rules (class to config, null config = FP32).
     *
     * @return an unmodifiable map in insertion order
     */
    public Map<Class<? extends Block>, QConfig> classRules() {
        return classRules;
    }

    /**
     * Returns the path rules in insertion order.
     *
     * @return an unmodifiable list
     */
    public List<PathRule> pathRules() {
        return pathRules;
    }

    /**
     * Finds the config of one block.
     *
     * @param rawPath the block's path by DJL child names
     * @param cleanPath the same path in clean form
     * @param blockClass the block's class
     * @return the resolution; {@link Resolution#matched()} is false when no rule applies
     */
    public Resolution resolve(String rawPath, String cleanPath, Class<?> blockClass) {
        String[] raw = rawPath.split("\\.");
        String[] clean = cleanPath.split("\\.");
        if (raw.length != clean.length) {
            throw new IllegalArgumentException(
                    "rawPath " + rawPath + " and cleanPath " + cleanPath + " differ in length");
        }
        for (int len = raw.length; len >= 1; len--) {
            String r = String.join(".", java.util.Arrays.copyOf(raw, len));
            String c = String.join(".", java.util.Arrays.copyOf(clean, len));
            for (int i = pathRules.size() - 1; i >= 0; i--) {
                PathRule rule = pathRules.get(i);
                if (rule.matches(r) || rule.matches(c)) {
                    return new Resolution(
                            true, rule.config(), rule.toString(), rule, len == raw.length);
                }
            }
        }
        for (Class<?> k = blockClass; k != null; k = k.getSuperclass()) {
            if (classRules.containsKey(k)) {
                return new Resolution(
                        true, classRules.get(k), "class " + k.getSimpleName(), null, false);
            }
        }
        if (hasGlobal) {
            return new Resolution(true, global, "global", null, false);
        }
        return new Resolution(false, null, "no rule", null, false);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "QConfigMapping{global="
                + (hasGlobal ? global : "none")
                + ", classes="
                + classRules.keySet()
                + ", paths="
                + pathRules
                + "}";
    }

    /**
     * The outcome of {@link #resolve}.
     *
     * @param matched whether any rule applied
     * @param config the config; null means FP32
     * @param source which rule decided, for reports ("global", "class Linear", "glob 'a.*'")
     * @param pathRule the path rule that decided, or null
     * @param exactPathMatch true if the path rule matched this block itself, not an ancestor
     */
    public record Resolution(
            boolean matched,
            QConfig config,
            String source,
            PathRule pathRule,
            boolean exactPathMatch) {}

    /**
     * A path pattern and its config.
     *
     * @param pattern the glob or regex as given
     * @param regex whether {@code pattern} is a regex (else a glob)
     * @param compiled the compiled whole-path regex
     * @param config the config, null for FP32
     */
    public record PathRule(String pattern, boolean regex, Pattern compiled, QConfig config) {

        /**
         * Returns whether a path matches this rule.
         *
         * @param path a dot-separated path
         * @return true if the whole path matches
         */
        public boolean matches(String path) {
            return compiled.matcher(path).matches();
        }

        /** {@inheritDoc} */
        @Override
        public String toString() {
            return (regex ? "regex '" : "glob '") + pattern + "'";
        }
    }

    /** Builds a {@link QConfigMapping}. */
    public static final class Builder {

        private boolean hasGlobal;
        private QConfig global;
        private final Map<Class<? extends Block>, QConfig> classRules = new LinkedHashMap<>();
        private final List<PathRule> pathRules = new ArrayList<>();

        private Builder() {}

        /**
         * Sets the config of every layer no other rule matches.
         *
         * @param config the config, or null for FP32
         * @return this builder
         */
        public Builder optGlobal(QConfig config) {
            hasGlobal = true;
            global = config;
            return this;
        }

        /**
         * Sets the config of every block of a class (and its subclasses).
         *
         * @param blockClass the class
         * @param config the config, or null for FP32
         * @return this builder
         */
        public Builder optClassConfig(Class<? extends Block> blockClass, QConfig config) {
            classRules.put(Objects.requireNonNull(blockClass, "blockClass"), config);
            return this;
        }

        /**
         * Sets the config of blocks whose path matches a glob, and their descendants.
         *
         * @param glob e.g. {@code encoder.*.attention.query} or {@code **.02Linear}
         * @param config the config, or null for FP32
         * @return this builder
         */
        public Builder optPathGlob(String glob, QConfig config) {
            Objects.requireNonNull(glob, "glob");
            if (glob.isEmpty()) {
                throw new IllegalArgumentException("glob was empty, must name a block path");
            }
            pathRules.add(new PathRule(glob, false, Pattern.compile(globToRegex(glob)), config));
            return this;
        }

        /**
         * Sets the config of blocks whose whole path matches a regex, and their descendants.
         *
         * @param regex a {@link Pattern} regex
         * @param config the config, or null for FP32
         * @return this builder
         */
        public Builder optPathRegex(String regex, QConfig config) {
            Objects.requireNonNull(regex, "regex");
            pathRules.add(new PathRule(regex, true, Pattern.compile(regex), config));
            return this;
        }

        /**
         * Builds the mapping.
         *
         * @return the immutable mapping
         */
        public QConfigMapping build() {
            return new QConfigMapping(this);
        }

        static String globToRegex(String glob) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < glob.length(); i++) {
                char ch = glob.charAt(i);
                if (ch == '*') {
                    if (i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                        sb.append(".*");
                        i++;
                    } else {
                        sb.append("[^.]*");
                    }
                } else if (ch == '?') {
                    sb.append("[^.]");
                } else {
                    sb.append(Pattern.quote(String.valueOf(ch)));
                }
            }
            return sb.toString();
        }
    }
}
