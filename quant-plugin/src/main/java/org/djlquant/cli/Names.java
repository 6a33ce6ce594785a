package org.djlquant.cli;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.djlquant.Quantizer;
import org.djlquant.config.BackendTarget;
import org.djlquant.policy.Precision;
import picocli.CommandLine;

/** The lower-case, hyphenated names the command line uses for the library's enums. */
final class Names {

    private Names() {}

    /** The command-line name of an enum constant: lower case, '_' as '-'. */
    static String of(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** A converter accepting the command-line names of an enum's constants. */
    static class EnumConverter<E extends Enum<E>> implements CommandLine.ITypeConverter<E> {
        private final Map<String, E> byName = new LinkedHashMap<>();

        EnumConverter(Class<E> type) {
            for (E e : type.getEnumConstants()) {
                byName.put(of(e), e);
            }
        }

        @Override
        public E convert(String value) {
            E e = byName.get(value.trim().toLowerCase(Locale.ROOT).replace('_', '-'));
            if (e == null) {
                throw new CommandLine.TypeConversionException(
                        "'"
                                + value
                                + "' is not allowed; allowed: "
                                + String.join(", ", byName.keySet()));
            }
            return e;
        }

        /** The allowed names, comma separated. */
        String allowed() {
            return String.join(", ", byName.keySet());
        }
    }

    /** --method values. */
    static final class MethodConverter extends EnumConverter<Quantizer.Method> {
        MethodConverter() {
            super(Quantizer.Method.class);
        }
    }

    /** --backend values. */
    static final class BackendConverter extends EnumConverter<BackendTarget> {
        BackendConverter() {
            super(BackendTarget.class);
        }
    }

    /** --qengine values (fbgemm, qnnpack, onednn, x86). */
    static final class QEngineConverter
            extends EnumConverter<org.djlquant.backend.pytorch.QEngine> {
        QEngineConverter() {
            super(org.djlquant.backend.pytorch.QEngine.class);
        }
    }

    /** Precision values (fp32, bf16, int8-dynamic, ...). */
    static final class PrecisionConverter extends EnumConverter<Precision> {
        PrecisionConverter() {
            super(Precision.class);
        }
    }

    /** --int8-form values. */
    static final class Int8FormConverter
            extends EnumConverter<org.djlquant.policy.apply.PrecisionConfigs.Form> {
        Int8FormConverter() {
            super(org.djlquant.policy.apply.PrecisionConfigs.Form.class);
        }
    }

    /** --objective values. */
    static final class ObjectiveConverter extends EnumConverter<org.djlquant.policy.Objective> {
        ObjectiveConverter() {
            super(org.djlquant.policy.Objective.class);
        }
    }

    /** Iterable of the method names, for help text. */
    static final class MethodNames extends java.util.ArrayList<String> {
        private static final long serialVersionUID = 1L;

        MethodNames() {
            for (Quantizer.Method m : Quantizer.Method.values()) {
                add(of(m));
            }
        }
    }

    /** Iterable of the backend names, for help text. */
    static final class BackendNames extends java.util.ArrayList<String> {
        private static final long serialVersionUID = 1L;

        BackendNames() {
            for (BackendTarget b : BackendTarget.values()) {
                add(of(b));
            }
        }
    }

    /** Iterable of the quantized engine names, for help text. */
    static final class QEngineNames extends java.util.ArrayList<String> {
        private static final long serialVersionUID = 1L;

        QEngineNames() {
            for (org.djlquant.backend.pytorch.QEngine e :
                    org.djlquant.backend.pytorch.QEngine.values()) {
                add(of(e));
            }
        }
    }

    /** Iterable of the precision names, for help text. */
    static final class PrecisionNames extends java.util.ArrayList<String> {
        private static final long serialVersionUID = 1L;

        PrecisionNames() {
            for (Precision p : Precision.values()) {
                add(of(p));
            }
        }
    }
}
